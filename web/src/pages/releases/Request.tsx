import { EmptyState } from '../../components/Feedback';
import { PageHeader } from '../../components/Misc';

export default function Request() {
  return (
    <>
      <PageHeader title="Request" />
      <EmptyState title="Not built yet" />
    </>
  );
}
