// Sign in with an email and password (POST /api/auth/login), or with an access token — the
// owner token printed at the first start, or a service token.
import { useId, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api, fieldErrors, unwrap } from '../api/client';
import { Button } from '../components/Button';
import { ErrorNotice, Notice } from '../components/Feedback';
import { TextField } from '../components/Misc';
import { session, useSession } from '../session';

export function Login() {
  const current = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const headingId = useId();
  const from = (location.state as { from?: string } | null)?.from;
  const ended = session.ended();

  if (current) return <Navigate to={from && from.startsWith('/w/') ? from : '/'} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      queryClient.clear();
      if (mode === 'password') {
        const answer = await unwrap(api.POST('/api/auth/login', { body: { email, password } }));
        session.start({ token: answer.token, expiresAt: answer.expiresAt, kind: 'login' });
      } else {
        const value = token.trim();
        // Check the token before keeping it.
        const check = await fetch('/api/auth/whoami', { headers: { authorization: `Bearer ${value}` } });
        if (!check.ok) throw new ApiError(check.status, await check.json().catch(() => null));
        session.start({ token: value, expiresAt: null, kind: 'token' });
      }
      navigate(from && from.startsWith('/w/') ? from : '/', { replace: true });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const fields = fieldErrors(error);
  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} aria-labelledby={headingId} noValidate>
        <div className="login-brand">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <h1 id={headingId}>Sign in to Stageline</h1>
        </div>
        {ended === 'expired' ? <Notice kind="warning">Your session has ended. Sign in again to continue.</Notice> : null}
        {ended === 'logged_out' ? <Notice>You are signed out.</Notice> : null}
        {mode === 'password' ? (
          <>
            <TextField label="Email" name="email" type="text" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} error={fields.email} required autoFocus />
            <TextField label="Password" name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={fields.password} required />
          </>
        ) : (
          <TextField
            label="Access token"
            name="token"
            type="password"
            autoComplete="off"
            hint="The owner token printed at the first start (also in <data dir>/admin-token), or a service token."
            value={token}
            onChange={(e) => setToken(e.target.value)}
            required
            autoFocus
          />
        )}
        <ErrorNotice error={error} showDetails={false} title={error instanceof ApiError && error.status === 401 ? 'Not signed in' : undefined} />
        <Button type="submit" variant="primary" busy={busy} className="login-submit">
          Sign in
        </Button>
        <button type="button" className="link-button" onClick={() => (setMode(mode === 'password' ? 'token' : 'password'), setError(null))}>
          {mode === 'password' ? 'Sign in with an access token instead' : 'Sign in with email and password instead'}
        </button>
      </form>
    </main>
  );
}
