import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Environments() {
  return (
    <>
      <PageHeader title="Environments" />
      <EmptyState title="Not built yet" />
    </>
  );
}
