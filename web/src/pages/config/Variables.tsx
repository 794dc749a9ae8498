import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Variables() {
  return (
    <>
      <PageHeader title="Variables" />
      <EmptyState title="Not built yet" />
    </>
  );
}
