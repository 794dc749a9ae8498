// The frame of every signed-in page: the workspace and environment switchers, the current
// environment's colour and name (production unmistakable), the navigation, and the page.
import { Suspense, useEffect, useId } from 'react';
import { NavLink, Navigate, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useEnvironments, useWhoami, useWorkspaces } from '../api/queries';
import { EnvBadge } from '../components/Badge';
import { ErrorNotice, Spinner } from '../components/Feedback';
import { chainOf, colorOf, isProduction, rememberPlace } from '../context';
import { navigation } from '../pages';
import { session, useSession } from '../session';

export function Shell() {
  const current = useSession();
  const location = useLocation();
  if (!current) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <SignedIn />;
}

function SignedIn() {
  const { ws = 'default', env = 'development' } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const whoami = useWhoami();
  const workspaces = useWorkspaces();
  const environments = useEnvironments(ws);
  const all = environments.data ?? [];
  const environment = all.find((e) => e.slug === env);
  const production = isProduction(environment, all);
  const wsSelect = useId();
  const envSelect = useId();
  // The page (first segment after /w/:ws/:env/) is kept when switching environments. Read from
  // the address at the moment of the switch: while a page's chunk loads, the router keeps
  // rendering the previous page (a transition), but the address is already the new one.
  const currentSection = () => window.location.pathname.split('/')[4] || 'resources';

  useEffect(() => {
    if (whoami.data && environment) rememberPlace(whoami.data.userId ?? whoami.data.name, ws, env);
  }, [whoami.data, environment, ws, env]);

  useEffect(() => {
    document.title = `${environment?.name ?? env} · Stageline`;
  }, [environment, env]);

  const ordered = [...chainOf(all), ...all.filter((e) => e.kind === 'branch')];

  return (
    <div className={`app${production ? ' app-production' : ''}`}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <div className="env-strip" style={{ backgroundColor: colorOf(environment, all) }} aria-hidden="true" />
      <header className="topbar">
        <a className="brand" href={`/w/${encodeURIComponent(ws)}/${encodeURIComponent(env)}/resources`} aria-label="Stageline home">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          <span>Stageline</span>
        </a>
        <div className="switcher">
          <label htmlFor={wsSelect}>Workspace</label>
          <select id={wsSelect} value={ws} onChange={(e) => navigate(`/w/${encodeURIComponent(e.target.value)}/development/resources`)}>
            {(workspaces.data?.data ?? [{ slug: ws, name: ws }]).map((w) => (
              <option key={w.slug} value={w.slug}>
                {w.name}
              </option>
            ))}
          </select>
        </div>
        <div className="switcher">
          <label htmlFor={envSelect}>Environment</label>
          <select
            id={envSelect}
            value={env}
            onChange={(e) => navigate(`/w/${encodeURIComponent(ws)}/${encodeURIComponent(e.target.value)}/${currentSection()}`)}
          >
            {ordered.length === 0 ? <option value={env}>{env}</option> : null}
            {ordered.map((e) => (
              <option key={e.slug} value={e.slug}>
                {e.kind === 'branch' ? `${e.name} (branch of ${e.parent ?? '?'})` : e.name}
                {isProduction(e, all) ? ' — production' : ''}
              </option>
            ))}
          </select>
        </div>
        <div className="current-env" aria-live="polite">
          <EnvBadge environment={environment} environments={all} slug={env} />
          {environment?.protected ? <span className="badge badge-warning">protected</span> : null}
        </div>
        <div className="user">
          <span className="user-name" title="signed in as">
            {whoami.data?.name ?? ''}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={async () => {
              try {
                // A pasted access token is shared with others (CI, the CLI): only forget it here.
                if (session.current()?.kind === 'login') await api.POST('/api/auth/logout');
              } finally {
                session.clear();
                queryClient.clear();
                navigate('/login');
              }
            }}
          >
            Log out
          </button>
        </div>
      </header>
      {production ? (
        <div className="production-banner" role="note">
          You are working in <strong>production</strong>: changes here reach your users.
        </div>
      ) : null}
      <div className="body">
        <nav className="sidebar" aria-label="Main">
          {navigation.map((group) => (
            <div className="nav-group" key={group.group}>
              <h2 className="nav-group-title">{group.group}</h2>
              <ul>
                {group.items.map((item) => (
                  <li key={item.path}>
                    <NavLink to={`/w/${encodeURIComponent(ws)}/${encodeURIComponent(env)}/${item.path}`} className={({ isActive }) => (isActive ? 'nav-link active' : 'nav-link')}>
                      {item.label}
                    </NavLink>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <main className="content" id="main" tabIndex={-1}>
          {environments.error ? <ErrorNotice error={environments.error} /> : null}
          {environments.data && !environment ? (
            <ErrorNotice error={new Error(`There is no environment "${env}" in workspace "${ws}". Pick one in the switcher above.`)} title="Unknown environment" />
          ) : (
            <Suspense fallback={<Spinner />}>
              <Outlet />
            </Suspense>
          )}
        </main>
      </div>
    </div>
  );
}
