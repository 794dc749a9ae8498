// Which resources a runtime credential may see: secret keys (servers) see every active
// resource; publishable keys (browsers) see only configs marked public.

export type CredentialKind = 'secret' | 'publishable';

export function visibleTo(kind: CredentialKind, resource: { kind: string; content: unknown }): boolean {
  if (kind === 'secret') return true;
  return resource.kind === 'config' && (resource.content as { public?: unknown } | null)?.public === true;
}
