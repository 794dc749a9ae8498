// The create and edit forms of an environment, in dialogs; the API's field errors appear under
// the field they name, anything else at the form.
import { useEffect, useRef, useState, type FormEvent, type RefObject } from 'react';
import { api, fieldErrors, unwrap } from '../../api/client';
import type { Environment } from '../../api/queries';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice, Notice } from '../../components/Feedback';
import { CheckboxField, SelectField, TextField } from '../../components/Misc';
import { chainOf } from '../../context';

/** After a refused submit, the first field the server named gets the focus (and scrolls into view). */
function useFocusInvalid(form: RefObject<HTMLFormElement | null>, error: unknown) {
  useEffect(() => {
    if (error) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [form, error]);
}

/** Errors the form shows at a field; the rest go to the notice. */
function split(error: unknown, shown: string[]) {
  const fields = fieldErrors(error);
  const rest = Object.keys(fields).filter((f) => !shown.includes(f));
  return { fields, other: error && (rest.length > 0 || Object.keys(fields).length === 0) ? error : null };
}

export function CreateEnvironmentDialog({
  open,
  ws,
  environments,
  branchFrom,
  onClose,
  onCreated,
}: {
  open: boolean;
  ws: string;
  environments: Environment[];
  branchFrom: string | undefined;
  onClose: () => void;
  onCreated: (env: Environment) => void;
}) {
  const chain = chainOf(environments);
  const last = chain[chain.length - 1];
  const [kind, setKind] = useState<'chain' | 'branch'>('chain');
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [from, setFrom] = useState('');
  const [ttl, setTtl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!open) return;
    setKind(branchFrom ? 'branch' : 'chain');
    setFrom(branchFrom ?? chain[0]?.slug ?? 'development');
    setSlug('');
    setName('');
    setTtl('');
    setError(null);
    // Reset only when the dialog opens (not on every change of the chain).
  }, [open, branchFrom]);

  const { fields, other } = split(error, ['slug', 'name', 'kind', 'from', 'ttlHours']);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusInvalid(formRef, error);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const ttlHours = ttl.trim() === '' ? undefined : Number(ttl);
      const body =
        kind === 'branch'
          ? { slug: slug.trim(), kind, from, ...(name.trim() ? { name: name.trim() } : {}), ...(ttlHours !== undefined ? { ttlHours } : {}) }
          : { slug: slug.trim(), kind, ...(name.trim() ? { name: name.trim() } : {}) };
      const created = await unwrap(api.POST('/api/workspaces/{ws}/environments', { params: { path: { ws } }, body }));
      onCreated(created as Environment);
      onClose();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const formId = 'create-environment-form';
  return (
    <Dialog
      open={open}
      title={kind === 'branch' ? 'Create a branch' : 'Create an environment'}
      onClose={busy ? () => {} : onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant="primary" busy={busy}>
            {kind === 'branch' ? 'Create branch' : 'Create environment'}
          </Button>
        </>
      }
    >
      <form id={formId} ref={formRef} onSubmit={submit} noValidate>
        <fieldset className="env-kind">
          <legend>Kind</legend>
          <label>
            <input type="radio" name="kind" value="chain" checked={kind === 'chain'} onChange={() => setKind('chain')} /> Chain environment
          </label>
          <label>
            <input type="radio" name="kind" value="branch" checked={kind === 'branch'} onChange={() => setKind('branch')} /> Branch
          </label>
        </fieldset>
        {kind === 'chain' ? (
          <Notice>
            A new chain environment is inserted immediately before {last ? <strong>{last.name}</strong> : 'production'}, so releases pass through it on their way
            there.
          </Notice>
        ) : (
          <Notice>A branch forks from a chain environment at its current release; you edit and commit in it, then merge it back by promoting into its parent.</Notice>
        )}
        <TextField
          label="Slug"
          value={slug}
          onChange={(e) => setSlug(e.target.value)}
          error={fields.slug}
          hint="lowercase letters, digits and hyphens, e.g. staging"
          autoComplete="off"
          spellCheck={false}
          required
        />
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fields.name} hint="shown in the dashboard; the slug when left empty" autoComplete="off" />
        {kind === 'branch' ? (
          <>
            <SelectField label="Fork from" value={from} onChange={(e) => setFrom(e.target.value)} error={fields.from}>
              {chain.map((e) => (
                <option key={e.slug} value={e.slug}>
                  {e.name} (release {e.release})
                </option>
              ))}
            </SelectField>
            <TextField
              label="Time to live (hours)"
              type="number"
              inputMode="numeric"
              min={1}
              value={ttl}
              onChange={(e) => setTtl(e.target.value)}
              error={fields.ttlHours}
              hint="the branch and all of its data are deleted after this; empty: kept until deleted"
            />
          </>
        ) : null}
        <ErrorNotice error={other} />
      </form>
    </Dialog>
  );
}

export function EditEnvironmentDialog({ ws, env, onClose, onSaved }: { ws: string; env: Environment; onClose: () => void; onSaved: () => void }) {
  const [name, setName] = useState(env.name);
  const [isProtected, setProtected] = useState(env.protected);
  const [approvals, setApprovals] = useState(String(env.approvalsRequired));
  const [forRollback, setForRollback] = useState(env.approvalsForRollback);
  const [obfuscate, setObfuscate] = useState(env.obfuscateData);
  const [region, setRegion] = useState(env.region ?? '');
  const [color, setColor] = useState(env.color ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const { fields, other } = split(error, ['name', 'protected', 'approvalsRequired', 'approvalsForRollback', 'obfuscateData', 'region', 'color']);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusInvalid(formRef, error);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = {
        name: name.trim(),
        protected: isProtected,
        // An unreadable number goes to the server as is, so its answer names the field.
        approvalsRequired: approvals.trim() === '' ? 0 : Number(approvals),
        approvalsForRollback: forRollback,
        obfuscateData: obfuscate,
        region: region.trim() === '' ? null : region.trim(),
        color: color.trim() === '' ? null : color.trim(),
      };
      await unwrap(api.PATCH('/api/workspaces/{ws}/environments/{env}', { params: { path: { ws, env: env.slug } }, body }));
      onSaved();
      onClose();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const formId = 'edit-environment-form';
  const swatch = /^#[0-9a-fA-F]{6}$/.test(color.trim()) ? color.trim() : null;
  return (
    <Dialog
      open
      title={`Edit ${env.name}`}
      onClose={busy ? () => {} : onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant="primary" busy={busy}>
            Save {env.slug}
          </Button>
        </>
      }
    >
      <form id={formId} ref={formRef} onSubmit={submit} noValidate>
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fields.name} autoComplete="off" />
        <fieldset className="env-flags">
          <legend>Approvals</legend>
          <CheckboxField label="Protected: promotions need approvals from members other than the requester" checked={isProtected} onChange={(e) => setProtected(e.target.checked)} />
          <CheckboxField label="Rollbacks wait for approvals too" checked={forRollback} onChange={(e) => setForRollback(e.target.checked)} />
          <TextField
            label="Approvals required"
            type="number"
            inputMode="numeric"
            value={approvals}
            onChange={(e) => setApprovals(e.target.value)}
            error={fields.approvalsRequired}
            hint="0 to 20"
          />
        </fieldset>
        <CheckboxField label="Obfuscate data for members without the reveal permission" checked={obfuscate} onChange={(e) => setObfuscate(e.target.checked)} />
        <div className="env-form-pair">
          <TextField
            label="Region"
            value={region}
            onChange={(e) => setRegion(e.target.value)}
            error={fields.region}
            hint="e.g. eu-west; empty: every region"
            autoComplete="off"
            spellCheck={false}
          />
          <div className="env-color-row">
            <TextField
              label="Colour"
              value={color}
              onChange={(e) => setColor(e.target.value)}
              error={fields.color}
              hint="#rrggbb; empty: the default"
              autoComplete="off"
              spellCheck={false}
            />
            <span className="env-color-swatch" style={swatch ? { backgroundColor: swatch } : undefined} aria-hidden="true" />
          </div>
        </div>
        <ErrorNotice error={other} />
      </form>
    </Dialog>
  );
}
