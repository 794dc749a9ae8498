import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Secrets() {
  return (
    <>
      <PageHeader title="Secrets" />
      <EmptyState title="Not built yet" />
    </>
  );
}
