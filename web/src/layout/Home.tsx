// `/`: where the user last worked, else the first workspace's development environment.
import { Navigate } from 'react-router';
import { useWhoami, useWorkspaces } from '../api/queries';
import { ErrorNotice, Spinner } from '../components/Feedback';
import { lastPlace } from '../context';
import { useSession } from '../session';

export function Home() {
  const current = useSession();
  const whoami = useWhoami();
  const workspaces = useWorkspaces();
  if (!current) return <Navigate to="/login" replace />;
  if (whoami.error || workspaces.error) return <ErrorNotice error={whoami.error ?? workspaces.error} />;
  if (!whoami.data || !workspaces.data) return <Spinner />;
  const last = lastPlace(whoami.data.userId ?? whoami.data.name);
  const slugs = workspaces.data.data.map((w) => w.slug);
  if (last && slugs.includes(last.ws)) return <Navigate to={`/w/${encodeURIComponent(last.ws)}/${encodeURIComponent(last.env)}/resources`} replace />;
  const first = slugs[0] ?? 'default';
  return <Navigate to={`/w/${encodeURIComponent(first)}/development/resources`} replace />;
}
