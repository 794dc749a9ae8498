import { Link } from 'react-router';
import { EmptyState } from '../components/Feedback';

/** An unknown address: inside the shell's content, or (`standalone`) as a page of its own. */
export function NotFound({ standalone = false }: { standalone?: boolean }) {
  const body = (
    <EmptyState title="There is no page here" action={<Link to="/">Go to the dashboard</Link>}>
      The address may be mistyped, or the page was moved.
    </EmptyState>
  );
  return standalone ? <main className="content">{body}</main> : body;
}
