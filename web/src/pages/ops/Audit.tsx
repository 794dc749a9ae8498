import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Audit() {
  return (
    <>
      <PageHeader title="Audit" />
      <EmptyState title="Not built yet" />
    </>
  );
}
