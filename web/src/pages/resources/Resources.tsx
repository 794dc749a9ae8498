import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Resources() {
  return (
    <>
      <PageHeader title="Resources" />
      <EmptyState title="Not built yet" />
    </>
  );
}
