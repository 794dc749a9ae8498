import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Matrix() {
  return (
    <>
      <PageHeader title="Matrix" />
      <EmptyState title="Not built yet" />
    </>
  );
}
