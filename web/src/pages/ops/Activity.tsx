import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Activity() {
  return (
    <>
      <PageHeader title="Activity" />
      <EmptyState title="Not built yet" />
    </>
  );
}
