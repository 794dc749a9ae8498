import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Promote() {
  return (
    <>
      <PageHeader title="Promote" />
      <EmptyState title="Not built yet" />
    </>
  );
}
