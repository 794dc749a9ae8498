// The audit log: every management change, newest first, filtered (action with `prefix.*`
// wildcards, actor, environment, time), paginated; an entry's detail with its before/after
// digests; verifying the hash chain (and that it still extends a signed checkpoint); export.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, fieldErrors, unwrap } from '../../api/client';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { Diff } from '../../components/Diff';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { CopyButton, PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { compact, exactTime, isoOf, Pager, useCursor, type AuditEntry, type Checkpoint, type Page, type VerifyResult } from './common';
import { FilterForm, useUrlFilters } from './Filters';
import './ops.css';

const FILTERS = ['action', 'actor', 'environment', 'since', 'until'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function queryOf(applied: Filters) {
  return compact({ action: applied.action.trim(), actor: applied.actor.trim(), environment: applied.environment, since: isoOf(applied.since), until: isoOf(applied.until) });
}

export default function Audit() {
  const { ws, environments } = useEnv();
  const { applied, apply, key } = useUrlFilters(FILTERS);
  const paging = useCursor(`${ws}|${key}`);
  const [open, setOpen] = useState<AuditEntry | null>(null);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);

  const log = useQuery({
    queryKey: [ws, 'audit-log', key, paging.cursor ?? ''],
    queryFn: async () =>
      (await unwrap(api.GET('/api/workspaces/{ws}/audit-log', { params: { path: { ws }, query: { ...queryOf(applied), limit: 50, ...(paging.cursor ? { cursor: paging.cursor } : {}) } } }))) as unknown as Page<AuditEntry>,
    placeholderData: keepPreviousData,
  });
  const errors = fieldErrors(log.error);

  const download = async () => {
    setExporting(true);
    setExportError(null);
    try {
      const blob = (await unwrap(api.GET('/api/workspaces/{ws}/audit-log/export', { params: { path: { ws }, query: queryOf(applied) }, parseAs: 'blob' }))) as unknown as Blob;
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `${ws}-audit.ndjson`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (caught) {
      setExportError(caught);
    } finally {
      setExporting(false);
    }
  };

  return (
    <>
      <PageHeader
        title="Audit log"
        description="Every change by a member or service token, through any surface, recorded with the change itself and hash-chained so that an edited or removed entry is detected."
        actions={
          <Button onClick={download} busy={exporting}>
            Export (NDJSON)
          </Button>
        }
      />
      <ErrorNotice error={exportError} title="The export failed" />
      <ChainPanel ws={ws} />

      <FilterForm applied={applied} onApply={apply} label="Audit log filters">
        {(draft, set) => (
          <>
            <TextField label="Action" value={draft.action} onChange={(e) => set('action', e.target.value)} error={errors.action} placeholder="release.*" hint="exact, or a prefix with .*" />
            <TextField label="Actor" value={draft.actor} onChange={(e) => set('actor', e.target.value)} error={errors.actor} placeholder="usr_… or tok_…" hint="an actor id; or pick one in the list" />
            <SelectField label="Environment" value={draft.environment} onChange={(e) => set('environment', e.target.value)} error={errors.environment} hint="where the change was made">
              <option value="">every environment</option>
              {environments.map((e) => (
                <option key={e.slug} value={e.slug}>
                  {e.name}
                </option>
              ))}
            </SelectField>
            <TextField label="Since" type="datetime-local" value={draft.since} onChange={(e) => set('since', e.target.value)} error={errors.since} />
            <TextField label="Until" type="datetime-local" value={draft.until} onChange={(e) => set('until', e.target.value)} error={errors.until} />
          </>
        )}
      </FilterForm>

      <section className="section" aria-label="Audit entries">
        <div className="ops-list-box">
          {log.error && Object.keys(errors).length === 0 ? (
            <ErrorNotice error={log.error} />
          ) : log.error ? null : !log.data ? (
            <Spinner label="Loading the audit log" />
          ) : log.data.data.length === 0 && paging.page === 1 ? (
            <EmptyState title="No entries match">Widen the filters (an action prefix such as <code>release.*</code>, a longer time range) or clear them.</EmptyState>
          ) : (
            <>
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col" className="num">Seq</th>
                    <th scope="col">When</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Action</th>
                    <th scope="col">Environment</th>
                    <th scope="col">Target</th>
                    <th scope="col">
                      <span className="visually-hidden">Detail</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {log.data.data.map((entry) => (
                    <tr key={entry.seq}>
                      <td className="num">{entry.seq}</td>
                      <td className="ops-nowrap">
                        <When at={entry.at} />
                      </td>
                      <td>
                        <button type="button" className="link-button" onClick={() => apply({ ...applied, actor: entry.actorId })} aria-label={`Show only entries by ${entry.actorName}`}>
                          {entry.actorName}
                        </button>
                        {entry.actorKind !== 'user' ? <span className="muted"> ({entry.actorKind})</span> : null}
                      </td>
                      <td>
                        <code>{entry.action}</code>
                      </td>
                      <td>{entry.environment ? <EnvBadge environment={environments.find((e) => e.slug === entry.environment)} environments={environments} slug={entry.environment} /> : <span className="muted">workspace</span>}</td>
                      <td className="ops-target">{entry.target ?? '—'}</td>
                      <td>
                        <Button size="small" onClick={() => setOpen(entry)} aria-label={`Details of entry ${entry.seq}`}>
                          Details
                        </Button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager paging={paging} next={log.data.next} label="Audit log" />
            </>
          )}
        </div>
      </section>
      <EntryDialog entry={open} onClose={() => setOpen(null)} />
    </>
  );
}

function EntryDialog({ entry, onClose }: { entry: AuditEntry | null; onClose: () => void }) {
  return (
    <Dialog open={entry !== null} title={entry ? `Entry ${entry.seq}: ${entry.action}` : 'Entry'} onClose={onClose} wide>
      {entry ? (
        <>
          <dl className="ops-kv">
            <dt>When</dt>
            <dd>{exactTime(entry.at)}</dd>
            <dt>Actor</dt>
            <dd>
              {entry.actorName} <span className="muted">({entry.actorKind} {entry.actorId})</span>
            </dd>
            <dt>Environment</dt>
            <dd>{entry.environment ?? 'workspace'}</dd>
            <dt>Target</dt>
            <dd className="ops-target">{entry.target ?? '—'}</dd>
            <dt>Request</dt>
            <dd className="ops-target">{entry.requestId ?? '—'}</dd>
          </dl>
          <h3>Before and after</h3>
          <p className="muted">The log keeps digests of the state before and after, never the values (secrets stay out of it).</p>
          {entry.beforeDigest === null && entry.afterDigest === null ? (
            <p className="muted">This entry records no state.</p>
          ) : (
            <Diff changes={[{ path: '', ...(entry.beforeDigest ? { before: entry.beforeDigest } : {}), ...(entry.afterDigest ? { after: entry.afterDigest } : {}) }]} beforeLabel="Before (digest)" afterLabel="After (digest)" />
          )}
          <h3>Details</h3>
          {Object.keys(entry.details).length === 0 ? <p className="muted">None.</p> : <pre className="ops-json">{JSON.stringify(entry.details, null, 2)}</pre>}
          <h3>Chain</h3>
          <dl className="ops-kv">
            <dt>Hash</dt>
            <dd className="ops-target">{entry.hash}</dd>
            <dt>Previous</dt>
            <dd className="ops-target">{entry.prevHash}</dd>
            <dt>Key</dt>
            <dd className="ops-target">{entry.keyId ?? 'unkeyed (SHA-256)'}</dd>
          </dl>
        </>
      ) : null}
    </Dialog>
  );
}

function ChainPanel({ ws }: { ws: string }) {
  const [result, setResult] = useState<VerifyResult | null>(null);
  const [verifying, setVerifying] = useState<'chain' | 'checkpoint' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [showCheckpoint, setShowCheckpoint] = useState(false);
  const checkpoint = useQuery({
    queryKey: [ws, 'audit-checkpoint'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/audit-log/checkpoint', { params: { path: { ws } } }))) as Checkpoint,
    enabled: showCheckpoint,
  });
  const publicKey = useQuery({
    queryKey: [ws, 'audit-public-key'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/audit-log/public-key', { params: { path: { ws } } }))) as { algorithm: string; publicKey: string; keyId: string },
    enabled: showCheckpoint,
    staleTime: Infinity,
  });

  const verify = async (against?: Checkpoint) => {
    setVerifying(against ? 'checkpoint' : 'chain');
    setError(null);
    try {
      const query = against ? { checkpoint: JSON.stringify(against) } : {};
      setResult((await unwrap(api.GET('/api/workspaces/{ws}/audit-log/verify', { params: { path: { ws }, query } }))) as VerifyResult);
    } catch (caught) {
      setResult(null);
      setError(caught);
    } finally {
      setVerifying(null);
    }
  };

  return (
    <section className="section ops-verify" aria-labelledby="ops-chain">
      <div className="page-header">
        <div>
          <h2 id="ops-chain">Chain</h2>
          <p className="page-description">Recomputes every entry's hash from the first one; any edited or removed entry breaks it.</p>
        </div>
        <div className="page-actions">
          <Button variant="primary" onClick={() => verify()} busy={verifying === 'chain'}>
            Verify chain
          </Button>
          <Button onClick={() => setShowCheckpoint((s) => !s)} aria-expanded={showCheckpoint}>
            {showCheckpoint ? 'Hide checkpoint' : 'Signed checkpoint'}
          </Button>
        </div>
      </div>
      <div aria-live="polite">
        <ErrorNotice error={error} />
        {result ? <VerifyOutcome result={result} /> : null}
      </div>
      {showCheckpoint ? (
        <div className="ops-checkpoint">
          {checkpoint.error ? <ErrorNotice error={checkpoint.error} /> : null}
          {publicKey.error ? <ErrorNotice error={publicKey.error} /> : null}
          {!checkpoint.data ? (
            checkpoint.error ? null : <Spinner label="Loading the checkpoint" />
          ) : (
            <>
              <h3>Latest checkpoint</h3>
              <p className="muted">The chain's head signed with the workspace's Ed25519 key. Keep one outside Stageline: a later verification against it shows the log was not rewritten since.</p>
              <dl className="ops-kv">
                <dt>Entry</dt>
                <dd>{checkpoint.data.seq}</dd>
                <dt>At</dt>
                <dd>{exactTime(checkpoint.data.at)}</dd>
                <dt>Hash</dt>
                <dd className="ops-target">{checkpoint.data.hash}</dd>
                <dt>Key id</dt>
                <dd className="ops-target">{checkpoint.data.keyId}</dd>
                <dt>Signature</dt>
                <dd className="ops-target">{checkpoint.data.signature}</dd>
              </dl>
              <div className="page-actions">
                <CopyButton text={JSON.stringify(checkpoint.data)} label="Copy checkpoint" />
                <Button onClick={() => verify(checkpoint.data)} busy={verifying === 'checkpoint'}>
                  Verify against this checkpoint
                </Button>
              </div>
            </>
          )}
          {publicKey.data ? (
            <>
              <h3>Public key ({publicKey.data.algorithm})</h3>
              <pre className="ops-pem">{publicKey.data.publicKey}</pre>
              <CopyButton text={publicKey.data.publicKey} label="Copy public key" />
            </>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function VerifyOutcome({ result }: { result: VerifyResult }) {
  if (!result.valid || result.checkpoint?.valid === false) {
    return (
      <div className="notice notice-error" role="alert">
        <strong>{result.valid ? 'The checkpoint does not hold' : 'The chain is broken'}</strong>
        <span>
          {result.valid ? '' : result.firstBroken ? `Entry ${result.firstBroken.seq} does not verify: ${result.firstBroken.reason}.` : 'The recorded head does not match the entries.'} Checked {result.entries} entries.
        </span>
        {result.checkpoint ? <span>Checkpoint at entry {result.checkpoint.seq}: {result.checkpoint.valid ? 'still extended' : `does not hold (${result.checkpoint.reason})`}.</span> : null}
      </div>
    );
  }
  return (
    <Notice kind="success">
      <strong>
        <Badge tone="success">Valid</Badge> The chain verifies: {result.entries} entries
      </strong>
      <span className="ops-target">head {result.head ?? '—'}</span>
      {result.unkeyed ? <span>Entries {result.unkeyed.from}–{result.unkeyed.to} were written before the chain was keyed (plain SHA-256).</span> : null}
      {result.checkpoint ? (
        <span>
          Checkpoint at entry {result.checkpoint.seq}: {result.checkpoint.valid ? 'signature valid, and the log still extends it' : `does not hold (${result.checkpoint.reason})`}.
        </span>
      ) : null}
    </Notice>
  );
}
