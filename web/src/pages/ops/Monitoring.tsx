import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Monitoring() {
  return (
    <>
      <PageHeader title="Monitoring" />
      <EmptyState title="Not built yet" />
    </>
  );
}
