import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Settings() {
  return (
    <>
      <PageHeader title="Settings" />
      <EmptyState title="Not built yet" />
    </>
  );
}
