// The two immediate controls outside commits, per environment: the override (a partial JSON
// merged over the committed content) and the kill switch. Both apply at once and are audited;
// in production they ask first and name it.
import { useEffect, useId, useMemo, useState } from 'react';
import { fieldErrors } from '../../api/client';
import { useInvalidate, type Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { Diff } from '../../components/Diff';
import { ErrorNotice, FieldError, Notice } from '../../components/Feedback';
import { chainOf, isProduction, useEnv } from '../../context';
import { useAcrossEnvironments, writes, type Kind, type ResourceView } from './api';
import { JsonBlock, pretty } from './shared';

export function Controls({ kind, resourceKey }: { kind: Kind; resourceKey: string }) {
  const { ws, env, environments } = useEnv();
  const envs = useMemo(() => {
    const chain = chainOf(environments);
    const current = environments.find((e) => e.slug === env);
    return current && current.kind === 'branch' ? [...chain, current] : chain;
  }, [environments, env]);
  const { resources } = useAcrossEnvironments(
    ws,
    envs.map((e) => e.slug),
    kind,
    resourceKey,
  );
  const [editing, setEditing] = useState<Environment | null>(null);
  const [toggling, setToggling] = useState<{ environment: Environment; active: boolean } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const invalidate = useInvalidate();
  const id = `${kind}/${resourceKey}`;

  async function toggle(environment: Environment, active: boolean) {
    await writes.setActive({ ws, env: environment.slug, kind, key: resourceKey }, active);
    invalidate(ws);
    setDone(`${id} is ${active ? 'switched on' : 'switched off'} in ${environment.name}.`);
  }

  return (
    <>
      <p className="muted">
        Overrides and the kill switch apply at once in one environment, are not promoted, and survive promotions and rollbacks. A switched-off workflow or route refuses to run.
      </p>
      {done ? <Notice kind="success">{done}</Notice> : null}
      <ErrorNotice error={error} />
      <table className="table controls-table">
        <caption className="visually-hidden">Override and kill switch of {id} per environment</caption>
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Kill switch</th>
            <th scope="col">Override</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {envs.map((environment, i) => {
            const resource = resources[i]?.data;
            const absent = resource === null;
            return (
              <tr key={environment.slug}>
                <th scope="row">
                  <EnvBadge environment={environment} environments={environments} />
                </th>
                <td>{resource === undefined ? '…' : absent ? <span className="muted">not in {environment.name}</span> : resource.active ? <Badge tone="success">active</Badge> : <Badge tone="danger">switched off</Badge>}</td>
                <td>
                  {resource === undefined || absent ? null : resource.override === null || resource.override === undefined ? (
                    <span className="muted">none: inherits the committed content</span>
                  ) : (
                    <JsonBlock value={resource.override} />
                  )}
                </td>
                <td>
                  <div className="controls-actions">
                    <Button size="small" disabled={!resource} onClick={() => setEditing(environment)}>
                      Edit override in {environment.name}
                    </Button>
                    <Button
                      size="small"
                      variant={resource?.active ? 'danger' : 'secondary'}
                      disabled={!resource}
                      onClick={async () => {
                        setDone(null);
                        setError(null);
                        if (!resource) return;
                        if (isProduction(environment, environments)) setToggling({ environment, active: !resource.active });
                        else await toggle(environment, !resource.active).catch(setError);
                      }}
                    >
                      {resource?.active === false ? 'Switch on' : 'Switch off'} in {environment.name}
                    </Button>
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {editing ? (
        <OverrideDialog
          kind={kind}
          resourceKey={resourceKey}
          environment={editing}
          resource={resources[envs.findIndex((e) => e.slug === editing.slug)]?.data ?? null}
          onClose={() => setEditing(null)}
          onSaved={(message) => {
            setDone(message);
            invalidate(ws);
          }}
        />
      ) : null}
      <ConfirmDialog
        open={toggling !== null}
        title={toggling ? `${toggling.active ? 'Switch on' : 'Switch off'} ${id} in ${toggling.environment.name}` : ''}
        confirmLabel={toggling ? `${toggling.active ? 'Switch on' : 'Switch off'} in ${toggling.environment.name}` : 'Confirm'}
        danger={toggling ? !toggling.active : false}
        onClose={() => setToggling(null)}
        onConfirm={() => toggle(toggling!.environment, toggling!.active)}
      >
        <p>
          {toggling?.environment.name} is production: this {toggling?.active ? 'lets' : 'stops'} {id} {toggling?.active ? 'run' : 'running'} for your users at once.
        </p>
      </ConfirmDialog>
    </>
  );
}

function OverrideDialog({
  kind,
  resourceKey,
  environment,
  resource,
  onClose,
  onSaved,
}: {
  kind: Kind;
  resourceKey: string;
  environment: Environment;
  resource: ResourceView | null;
  onClose: () => void;
  onSaved: (message: string) => void;
}) {
  const { ws, environments } = useEnv();
  const production = isProduction(environment, environments);
  const current = resource?.override ?? null;
  const [text, setText] = useState(current === null ? '{\n  \n}' : pretty(current));
  const [error, setError] = useState<unknown>(null);
  const [parseError, setParseError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState<{ override: unknown } | 'remove' | null>(null);
  const fieldId = useId();
  const path = { ws, env: environment.slug, kind, key: resourceKey };
  const id = `${kind}/${resourceKey}`;
  useEffect(() => setParseError(null), [text]);

  const byField = fieldErrors(error);
  const overrideMessage = Object.entries(byField)
    .filter(([field]) => field === 'override' || field.startsWith('override.'))
    .map(([field, message]) => `${field}: ${message}`)
    .join('; ');

  async function apply(override: unknown | 'remove') {
    setBusy(true);
    setError(null);
    try {
      if (override === 'remove') await writes.deleteOverride(path);
      else await writes.putOverride(path, override);
      onSaved(override === 'remove' ? `The override of ${id} in ${environment.name} is removed: it inherits the committed content.` : `The override of ${id} in ${environment.name} is saved.`);
      onClose();
    } catch (caught) {
      setError(caught);
      throw caught;
    } finally {
      setBusy(false);
    }
  }

  function save() {
    let override: unknown;
    try {
      override = JSON.parse(text);
    } catch (caught) {
      setParseError(`The JSON does not parse: ${(caught as Error).message}`);
      return;
    }
    if (production) setConfirming({ override });
    else apply(override).catch(() => {});
  }

  return (
    <>
      <Dialog
        open
        wide
        title={`Override of ${id} in ${environment.name}`}
        onClose={onClose}
        footer={
          <>
            <Button onClick={onClose} disabled={busy}>
              Cancel
            </Button>
            {current !== null ? (
              <Button variant="danger" disabled={busy} onClick={() => (production ? setConfirming('remove') : apply('remove').catch(() => {}))}>
                Remove override
              </Button>
            ) : null}
            <Button variant="primary" busy={busy} onClick={save}>
              Save override in {environment.name}
            </Button>
          </>
        }
      >
        <p className="muted">A partial JSON merged over the committed content in {environment.name} only (objects merge, a null field removes it). It applies at once.</p>
        <div className="field">
          <label htmlFor={fieldId}>Override (JSON)</label>
          <textarea
            id={fieldId}
            className="override-text"
            value={text}
            onChange={(e) => setText(e.target.value)}
            spellCheck={false}
            aria-invalid={parseError || overrideMessage ? true : undefined}
            aria-describedby={`${fieldId}-error`}
          />
          <FieldError id={`${fieldId}-error`} message={parseError ?? (overrideMessage || undefined)} />
        </div>
        {resource?.committed ? (
          <details>
            <summary>Committed content in {environment.name}</summary>
            <JsonBlock value={resource.committed.content} />
          </details>
        ) : null}
        <ErrorNotice error={overrideMessage ? null : error} />
      </Dialog>
      <ConfirmDialog
        open={confirming !== null}
        title={confirming === 'remove' ? `Remove the override of ${id} in ${environment.name}` : `Override ${id} in ${environment.name}`}
        confirmLabel={confirming === 'remove' ? `Remove it in ${environment.name}` : `Apply in ${environment.name}`}
        danger
        wide
        onClose={() => setConfirming(null)}
        onConfirm={() => apply(confirming === 'remove' ? 'remove' : (confirming as { override: unknown }).override)}
      >
        <p>{environment.name} is production: the change reaches your users at once.</p>
        <Diff before={current} after={confirming === 'remove' ? null : (confirming as { override: unknown } | null)?.override} beforeLabel="Override now" afterLabel="After" />
      </ConfirmDialog>
    </>
  );
}
