// Data: the current environment's collections and their records as members see them — masked
// where the environment obfuscates data, with "reveal" for those allowed (each reveal is audited).
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../../api/client';
import { keys } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { PageHeader, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { exactTime, Pager, untypedApi, useCursor, type Page } from './common';
import './ops.css';

interface Collection {
  name: string;
  records: number;
  updatedAt: string;
}
interface DataRecord {
  collection: string;
  id: string;
  value: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}
type RecordPage = Page<DataRecord> & { masked: boolean };

export default function Data() {
  const { ws, env, environment } = useEnv();
  const name = environment?.name ?? env;
  const [search, setSearch] = useSearchParams();
  const current = search.get('collection');
  const collectionPaging = useCursor(`${ws}/${env}`);

  const collections = useQuery({
    queryKey: [...keys.env(ws, env), 'data-collections', collectionPaging.cursor ?? ''],
    queryFn: async () =>
      (await unwrap(
        untypedApi.GET('/api/workspaces/{ws}/environments/{env}/data', { params: { path: { ws, env }, query: { limit: 50, cursor: collectionPaging.cursor } } }),
      )) as Page<Collection>,
    placeholderData: keepPreviousData,
  });

  const choose = (collection: string) => setSearch({ collection }, { replace: false });
  const obfuscated = environment?.obfuscateData ?? false;

  return (
    <>
      <PageHeader
        title="Data"
        description={`Runtime records of ${name}, written by its API keys. Each environment has its own records.`}
      />
      {obfuscated ? (
        <Notice kind="info">
          <strong>{name} obfuscates data.</strong> Values are masked for everyone; owners and admins may reveal them, and every reveal is written to the audit log.
        </Notice>
      ) : null}
      <div className="ops-data">
        <section className="section" aria-labelledby="ops-collections">
          <h2 id="ops-collections">Collections</h2>
          {collections.error ? (
            <ErrorNotice error={collections.error} />
          ) : !collections.data ? (
            <Spinner label="Loading collections" />
          ) : collections.data.data.length === 0 && collectionPaging.page === 1 ? (
            <EmptyState title={`No data in ${name}`}>
              Records appear here once the application writes them with a secret API key of {name}: <code>PUT /v1/data/users/u_1</code>.
            </EmptyState>
          ) : (
            <>
              <ul className="ops-collections">
                {collections.data.data.map((c) => (
                  <li key={c.name}>
                    <button type="button" className="ops-collection" aria-current={c.name === current ? 'true' : undefined} onClick={() => choose(c.name)}>
                      <span>{c.name}</span>
                      <span className="muted">
                        {c.records} <span className="visually-hidden">records</span>
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
              <Pager paging={collectionPaging} next={collections.data.next} label="Collections" />
            </>
          )}
        </section>
        {current ? (
          <Records key={`${env}/${current}`} ws={ws} env={env} name={name} collection={current} obfuscated={obfuscated} />
        ) : (
          <section className="section">
            <EmptyState title="Choose a collection">Pick a collection on the left to see its records.</EmptyState>
          </section>
        )}
      </div>
    </>
  );
}

function Records({ ws, env, name, collection, obfuscated }: { ws: string; env: string; name: string; collection: string; obfuscated: boolean }) {
  const [reveal, setReveal] = useState(false);
  const [open, setOpen] = useState<DataRecord | null>(null);
  const paging = useCursor(`${ws}/${env}/${collection}/${reveal}`);
  const records = useQuery({
    queryKey: [...keys.env(ws, env), 'data', collection, reveal, paging.cursor ?? ''],
    queryFn: async () =>
      (await unwrap(
        api.GET('/api/workspaces/{ws}/environments/{env}/data/{collection}', {
          params: { path: { ws, env, collection }, query: { limit: 25, ...(paging.cursor ? { cursor: paging.cursor } : {}), ...(reveal ? { reveal: 'true' as const } : {}) } },
        }),
      )) as RecordPage,
    placeholderData: keepPreviousData,
    // A reveal is audited per read: do not re-read revealed values behind the member's back.
    staleTime: reveal ? Infinity : 5_000,
    refetchOnWindowFocus: !reveal,
  });
  const page = records.data;
  return (
    <section className="section" aria-labelledby="ops-records">
      <div className="page-header">
        <h2 id="ops-records">
          {collection} <span className="muted">in {name}</span>
        </h2>
        <div className="page-actions">
          {page ? page.masked ? <Badge tone="warning">Masked</Badge> : obfuscated ? <Badge tone="danger">Revealed</Badge> : <Badge>Plain values</Badge> : null}
          {obfuscated ? (
            reveal ? (
              <Button size="small" onClick={() => setReveal(false)}>
                Mask values
              </Button>
            ) : (
              <Button size="small" variant="danger" onClick={() => setReveal(true)}>
                Reveal values (audited)
              </Button>
            )
          ) : null}
        </div>
      </div>
      <div className="ops-list-box">
        {records.error ? (
          <>
            <ErrorNotice error={records.error} />
            {reveal ? (
              <Button size="small" onClick={() => setReveal(false)}>
                Back to masked values
              </Button>
            ) : null}
          </>
        ) : !page ? (
          <Spinner label="Loading records" />
        ) : page.data.length === 0 ? (
          <EmptyState title={`No records in ${collection}`}>The collection is empty in {name}.</EmptyState>
        ) : (
          <>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Value</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((r) => (
                  <tr key={r.id}>
                    <th scope="row">
                      <button type="button" className="link-button ops-target" onClick={() => setOpen(r)} aria-label={`Open record ${r.id}`}>
                        {r.id}
                      </button>
                    </th>
                    <td>
                      <pre className="ops-value">{JSON.stringify(r.value, null, 1)}</pre>
                    </td>
                    <td className="ops-nowrap">
                      <When at={r.updatedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager paging={paging} next={page.next} label={`Records of ${collection}`} />
          </>
        )}
      </div>
      <Dialog open={open !== null} title={`${collection}/${open?.id ?? ''}`} onClose={() => setOpen(null)} wide>
        {open ? (
          <>
            <dl className="ops-kv">
              <dt>Created</dt>
              <dd>{exactTime(open.createdAt)}</dd>
              <dt>Updated</dt>
              <dd>{exactTime(open.updatedAt)}</dd>
              <dt>Values</dt>
              <dd>{page?.masked ? 'masked' : 'as stored'}</dd>
            </dl>
            <pre className="ops-json">{JSON.stringify(open.value, null, 2)}</pre>
          </>
        ) : null}
      </Dialog>
    </section>
  );
}
