import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Data() {
  return (
    <>
      <PageHeader title="Data" />
      <EmptyState title="Not built yet" />
    </>
  );
}
