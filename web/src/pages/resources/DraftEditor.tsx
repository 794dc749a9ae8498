// The draft of one resource in an editable environment: JSON or YAML, checked against the kind's
// schema as one types; saving shows the server's own errors at their fields. Discard and
// drafting a deletion ask first. Non-editable environments show the committed content only.
import { lazy, Suspense, useEffect, useId, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ApiError, fieldErrors } from '../../api/client';
import { useInvalidate } from '../../api/queries';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { Diff } from '../../components/Diff';
import { EmptyState, ErrorNotice, Notice } from '../../components/Feedback';
import { TextField } from '../../components/Misc';
import { useEnv } from '../../context';
import { STARTERS, useKindSchemas, writes, type Kind, type ResourceView } from './api';
import type { EditorMode, Problem, ServerError } from './Editor';
import { canonical, contentPointer, editableReason, JsonBlock, pretty } from './shared';

const Editor = lazy(() => import('./Editor'));

function format(value: unknown, mode: EditorMode): string {
  return mode === 'json' ? pretty(value) + '\n' : stringifyYaml(value);
}

function parse(text: string, mode: EditorMode): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: mode === 'json' ? JSON.parse(text) : parseYaml(text) };
  } catch (error) {
    return { ok: false, message: `The ${mode === 'json' ? 'JSON' : 'YAML'} does not parse: ${(error as Error).message.split('\n')[0]}` };
  }
}

export function DraftEditor({ kind, resourceKey, resource }: { kind: Kind; resourceKey: string; resource: ResourceView | null }) {
  const { ws, env, environment, environments } = useEnv();
  const readOnly = editableReason(environment, environments);
  if (readOnly) {
    return (
      <>
        <Notice kind="warning">{readOnly}</Notice>
        {resource?.committed ? (
          <section className="section" aria-labelledby="committed-title">
            <h2 id="committed-title">Committed content (release {resource.committed.release})</h2>
            <JsonBlock value={resource.committed.content} className="content-view" />
          </section>
        ) : (
          <EmptyState title={`${kind}/${resourceKey} is not in ${environment?.name ?? env}`}>
            <p>Compare the environments to see where it is, or promote it here from the one before.</p>
          </EmptyState>
        )}
      </>
    );
  }
  return <Editable key={`${ws}/${env}/${kind}/${resourceKey}`} kind={kind} resourceKey={resourceKey} resource={resource} />;
}

function Editable({ kind, resourceKey, resource }: { kind: Kind; resourceKey: string; resource: ResourceView | null }) {
  const { ws, env, environment } = useEnv();
  const [search] = useSearchParams();
  const invalidate = useInvalidate();
  const schemas = useKindSchemas();
  const path = { ws, env, kind, key: resourceKey };
  const saved = resource?.draft && !resource.draft.deleted ? resource.draft.content : resource?.committed ? resource.committed.content : STARTERS[kind];
  const savedApp = resource?.app ?? search.get('app') ?? '';
  const [mode, setMode] = useState<EditorMode>('json');
  const [text, setText] = useState(() => format(saved, 'json'));
  const [app, setApp] = useState(savedApp);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [modeError, setModeError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'discard' | 'delete' | null>(null);
  const labelId = useId();
  const problemsId = useId();

  // A save or discard elsewhere (another tab, the CLI) reloads what is saved; local edits are kept.
  const savedText = useMemo(() => format(saved, mode), [saved, mode]);
  const current = parse(text, mode);
  const dirty = !current.ok || canonical(current.value) !== canonical(saved) || app !== savedApp;

  const byField = fieldErrors(error);
  const serverErrors: ServerError[] = useMemo(
    () =>
      error instanceof ApiError
        ? error.details.flatMap((d) => {
            const pointer = contentPointer(d.field);
            return pointer === null ? [] : [{ pointer, message: d.message }];
          })
        : [],
    [error],
  );
  const otherError = error instanceof ApiError && error.details.length > 0 && error.details.every((d) => d.field === 'app' || contentPointer(d.field) !== null) ? null : error;

  useEffect(() => setDone(null), [text, app]);

  function switchMode(next: EditorMode) {
    if (next === mode) return;
    const parsed = parse(text, mode);
    if (!parsed.ok) {
      setModeError(`${parsed.message}. Fix it before switching to ${next.toUpperCase()}.`);
      return;
    }
    setModeError(null);
    setText(format(parsed.value, next));
    setMode(next);
  }

  async function run(action: () => Promise<unknown>, message: string) {
    setBusy(true);
    setError(null);
    try {
      await action();
      setDone(message);
      invalidate(ws);
    } catch (caught) {
      setError(caught);
      throw caught;
    } finally {
      setBusy(false);
    }
  }

  async function save() {
    const parsed = parse(text, mode);
    if (!parsed.ok) {
      setError(new Error(parsed.message));
      return;
    }
    await run(() => writes.saveDraft(path, parsed.value, app === '' ? null : app), `Draft saved in ${environment?.name ?? env}. Commit it on the Changes page.`).catch(() => {});
  }

  const canDiscard = resource?.draft !== null && resource?.draft !== undefined;
  const canDelete = resource?.committed !== null && resource?.committed !== undefined && !resource?.draft?.deleted;

  return (
    <div className="editor-layout">
      {!resource ? <Notice>This resource does not exist in {environment?.name ?? env} yet: saving creates it as a draft.</Notice> : null}
      {resource?.draft?.deleted ? <Notice kind="warning">A deletion is drafted: committing it removes this resource. Discard the draft to keep it, or save new content.</Notice> : null}
      <div className="editor-toolbar">
        <fieldset className="mode-switch">
          <legend>Format</legend>
          {(['json', 'yaml'] as const).map((m) => (
            <label key={m}>
              <input type="radio" name="editor-mode" value={m} checked={mode === m} onChange={() => switchMode(m)} /> {m.toUpperCase()}
            </label>
          ))}
        </fieldset>
        <div className="editor-app">
          <TextField label="App" value={app} onChange={(e) => setApp(e.target.value)} error={byField.app} placeholder="none" autoComplete="off" />
        </div>
        <span className="dirty-state" aria-live="polite">
          {dirty ? 'Unsaved changes' : ''}
        </span>
      </div>
      {modeError ? <p className="field-error" role="alert">{modeError}</p> : null}
      <h2 className="editor-label" id={labelId}>
        Draft content of {kind}/{resourceKey} ({mode.toUpperCase()})
      </h2>
      <Suspense fallback={<div className="resource-editor editor-loading">Loading the editor…</div>}>
        <Editor
          value={text}
          onChange={setText}
          mode={mode}
          schema={schemas.data?.get(kind)}
          labelledBy={labelId}
          describedBy={problemsId}
          serverErrors={serverErrors}
          onProblems={setProblems}
        />
      </Suspense>
      <div id={problemsId} className="problems" aria-live="polite">
        {problems.length > 0 ? (
          <>
            <h3>Problems as you type</h3>
            <ul>
              {problems.map((p, i) => (
                <li key={i}>
                  <span className="problem-line">Line {p.line}{p.pointer ? <>, <code>{p.pointer}</code></> : null}:</span> {p.message}
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p className="muted">No problems found against the {kind} schema. The server checks the rest when you save.</p>
        )}
        {serverErrors.length > 0 ? (
          <div className="server-errors" role="alert">
            <h3>The server refused this draft</h3>
            <ul>
              {serverErrors.map((e, i) => (
                <li key={i}>
                  <code>{e.pointer || '(the whole content)'}</code> {e.message}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </div>
      <ErrorNotice error={otherError} />
      {done ? <Notice kind="success">{done}</Notice> : null}
      <div className="form-actions">
        <Button variant="primary" busy={busy} onClick={save}>
          Save draft
        </Button>
        <Button onClick={() => setText(savedText)} disabled={busy || text === savedText}>
          Revert edits
        </Button>
        {canDiscard ? (
          <Button onClick={() => setConfirm('discard')} disabled={busy}>
            Discard draft
          </Button>
        ) : null}
        {canDelete ? (
          <Button variant="danger" onClick={() => setConfirm('delete')} disabled={busy}>
            Draft a deletion
          </Button>
        ) : null}
      </div>
      <ConfirmDialog
        open={confirm === 'discard'}
        title={`Discard the draft of ${kind}/${resourceKey}`}
        confirmLabel="Discard the draft"
        danger
        wide
        onClose={() => setConfirm(null)}
        onConfirm={() =>
          run(
            // A committed resource's draft goes by writing the committed content back (the server drops a draft equal to it).
            () => (resource?.committed ? writes.saveDraft(path, resource.committed.content, resource.app) : writes.deleteResource(path)),
            'Draft discarded.',
          ).then(() => {
            setText(format(resource?.committed ? resource.committed.content : STARTERS[kind], mode));
          })
        }
      >
        <p>{resource?.committed ? `The resource goes back to what release ${resource.committed.release} holds.` : 'It was never committed: it disappears.'}</p>
        {resource?.committed && resource.draft && !resource.draft.deleted ? <Diff before={resource.draft.content} after={resource.committed.content} beforeLabel="Draft" afterLabel="Committed" /> : null}
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'delete'}
        title={`Draft the deletion of ${kind}/${resourceKey}`}
        confirmLabel="Draft the deletion"
        danger
        onClose={() => setConfirm(null)}
        onConfirm={() => run(() => writes.deleteResource(path), 'Deletion drafted. Commit it on the Changes page to remove the resource.')}
      >
        <p>
          The resource stays in release {resource?.committed?.release} until the deletion is committed, and in the environments after {environment?.name ?? env} until it is
          promoted.
        </p>
      </ConfirmDialog>
    </div>
  );
}
