import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Resource() {
  return (
    <>
      <PageHeader title="Resource" />
      <EmptyState title="Not built yet" />
    </>
  );
}
