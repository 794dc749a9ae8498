import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Tokens() {
  return (
    <>
      <PageHeader title="Tokens" />
      <EmptyState title="Not built yet" />
    </>
  );
}
