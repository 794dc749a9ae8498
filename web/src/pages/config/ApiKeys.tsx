import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function ApiKeys() {
  return (
    <>
      <PageHeader title="ApiKeys" />
      <EmptyState title="Not built yet" />
    </>
  );
}
