import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Changes() {
  return (
    <>
      <PageHeader title="Changes" />
      <EmptyState title="Not built yet" />
    </>
  );
}
