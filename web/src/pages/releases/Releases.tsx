import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Releases() {
  return (
    <>
      <PageHeader title="Releases" />
      <EmptyState title="Not built yet" />
    </>
  );
}
