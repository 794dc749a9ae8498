import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Alerts() {
  return (
    <>
      <PageHeader title="Alerts" />
      <EmptyState title="Not built yet" />
    </>
  );
}
