import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Release() {
  return (
    <>
      <PageHeader title="Release" />
      <EmptyState title="Not built yet" />
    </>
  );
}
