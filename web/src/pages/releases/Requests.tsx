import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Requests() {
  return (
    <>
      <PageHeader title="Requests" />
      <EmptyState title="Not built yet" />
    </>
  );
}
