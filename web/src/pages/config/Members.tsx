import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Members() {
  return (
    <>
      <PageHeader title="Members" />
      <EmptyState title="Not built yet" />
    </>
  );
}
