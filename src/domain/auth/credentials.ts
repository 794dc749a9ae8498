// The state of a credential (API key, service token) as its listings show it.

export type CredentialStatus = 'active' | 'expired' | 'revoked';

export function credentialStatus(revokedAt: string | null, expiresAt: string | null, now: Date): CredentialStatus {
  if (revokedAt) return 'revoked';
  return expiresAt !== null && expiresAt <= now.toISOString() ? 'expired' : 'active';
}
