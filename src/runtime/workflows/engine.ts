// Executes a run's steps for its recipients as far as they can go now: renders each channel step
// (with its layout) and sends it, calls tools, starts delays, and records every attempt in the
// step log. What comes next is decided from that log, so a run resumes wherever it stopped.
import type { Json } from '../../domain/canonical.js';
import type { Environment } from '../../domain/environments/chain.js';
import { maskValue } from '../../domain/data/mask.js';
import { conflict, StagelineError } from '../../domain/errors.js';
import type { LayoutContent } from '../../domain/resources/kinds.js';
import { failureError, type Resolution } from '../../domain/resolution/resolve.js';
import {
  asText,
  htmlUse,
  IN_APP_TEMPLATES,
  renderValue,
  SafeHtml,
  scopeRecord,
  TOOL_INPUT_TEMPLATES,
  withRoots,
  WORKFLOW_TEMPLATES,
  type RenderScope,
  type TemplateUse,
} from '../../domain/templates/render.js';
import {
  deliveryId,
  nextAction,
  retryDelayMs,
  runProgress,
  stepType,
  type NextAction,
  type RetryPolicy,
  type RunProgress,
  type WorkflowStep,
} from '../../domain/workflows/progress.js';
import { emailAddressOf, type Recipient, type StepReport, type WorkflowRun } from '../../domain/workflows/runs.js';
import type { Deps } from '../../services/context.js';
import { invokeTool, toolOf, type ResolvedTool } from '../../services/tools.js';
import { listStepRows, putStepRow, type StepRow } from '../../store/workflows.js';
import { ChannelError, type Channels, type RenderedMessages } from '../channels/index.js';
import type { ResolutionView } from '../resolver.js';
import type { Recorder } from '../../metrics/recorder.js';
import { preferenceDecision, preferencesSetting, unsubscribeUrl, type PreferencesSetting } from '../../services/preferences.js';
import { faultPoint } from '../../faults.js';

export interface AdvanceOptions {
  /** `test`: delays are skipped and failures are not retried (the caller waits for the answer). */
  mode: 'queue' | 'test';
  /** Aborted when the worker stops: no further step starts, the job goes back to the queue. */
  signal?: AbortSignal;
  /** The run was never executed: there is no step log to read. */
  fresh?: boolean;
  /** `test`: recipients' values are masked in the messages reported (the environment obfuscates data). */
  maskRecipients?: boolean;
}

export type AdvanceResult =
  | (RunProgress & { error: string | null; reports: StepReport[] })
  | { kind: 'interrupted'; reports: StepReport[] };

type Attempt =
  | { ok: true; messageIds: string[]; detail: string | null; preview: unknown }
  | { ok: false; transient: boolean; error: string; retryAfterSeconds?: number; preview: unknown };

class Interrupted extends Error {}

/**
 * A run's resources as its version resolves them (the release it was queued on, or the draft
 * state in a test run), each layout and tool resolved once per execution.
 */
class RunContext {
  private readonly layouts = new Map<string, Promise<LayoutContent>>();
  private readonly tools = new Map<string, Promise<ResolvedTool>>();
  readonly reports: StepReport[] = [];

  constructor(
    readonly run: WorkflowRun,
    readonly view: ResolutionView,
    readonly options: AdvanceOptions,
  ) {}

  get env(): Environment {
    return this.view.environment;
  }

  private preferences?: Promise<PreferencesSetting | null>;

  /** The environment's `preferences` setting (null: none), read once per execution (a delayed step's execution reads it anew). */
  preferencesSetting(deps: Deps): Promise<PreferencesSetting | null> {
    this.preferences ??= preferencesSetting(deps.store.db, { workspaceId: this.env.workspaceId, environmentId: this.env.id }).then((setting) => setting ?? null);
    return this.preferences;
  }

  /** The template scope for one recipient: secrets only where the step may carry them. */
  async templateScope(recipient: Recipient, withSecrets: boolean): Promise<RenderScope> {
    return { ...(await this.view.scope(withSecrets)), recipient, data: this.run.data };
  }

  /** A layout or tool the version lacks is a missing reference of the run, not a 404. */
  private resolved<K extends 'layout' | 'tool'>(resolution: Resolution<K>) {
    if (resolution.ok) return resolution.resource;
    const { failure } = resolution;
    if (failure.reason === 'missing') throw conflict('missing_references', `${failure.id} is not in ${failure.version}`, [{ resource: failure.id }]);
    throw failureError(failure);
  }

  layout(key: string): Promise<LayoutContent> {
    let found = this.layouts.get(key);
    if (!found) {
      found = this.view.resolve('layout', key).then((resolution) => this.resolved(resolution).content);
      this.layouts.set(key, found);
    }
    return found;
  }

  tool(key: string): Promise<ResolvedTool> {
    let found = this.tools.get(key);
    if (!found) {
      found = this.view.resolve('tool', key).then((resolution) => toolOf({ ok: true, resource: this.resolved(resolution) }));
      this.tools.set(key, found);
    }
    return found;
  }
}

/** Secrets as a test run shows them: names, never values. */
function maskedSecrets(secrets: Record<string, string> | undefined): Record<string, string> {
  return scopeRecord(Object.keys(secrets ?? {}).map((name) => [name, `[secret ${name}]`] as const));
}

/** A recipient as a member sees it where data is obfuscated: its id, every other value masked. */
function maskedRecipient(recipient: Recipient): Recipient {
  return { ...(maskValue(recipient) as Recipient), id: recipient.id };
}

/** A test run's preview: masked values may not render as the real ones did, and the delivery goes on without one. */
function previewOf(render: () => unknown): unknown {
  try {
    return render();
  } catch (error) {
    if (error instanceof StagelineError) return null;
    throw error;
  }
}

const EMAIL_LAYOUT = withRoots(WORKFLOW_TEMPLATES, 'layout templates', 'content');
const IN_APP_LAYOUT = withRoots(IN_APP_TEMPLATES, 'in-app layout templates', 'content');
/** An email's html and its layout's html escape every value but the body the layout wraps. */
const EMAIL_HTML = htmlUse(WORKFLOW_TEMPLATES);
const EMAIL_HTML_LAYOUT = htmlUse(EMAIL_LAYOUT);

function wrap(layout: string | undefined, content: string | undefined, scope: RenderScope, use: TemplateUse, where: string): string | undefined {
  if (layout === undefined || content === undefined) return content;
  // The body is HTML the engine rendered: an HTML layout's `{{ content }}` inserts it as it is.
  return asText(renderValue(layout, { ...scope, content: use.html ? new SafeHtml(content) : content }, use, where));
}

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface EngineOptions {
  retry: RetryPolicy;
  /** Recipients of one run advanced at the same time. */
  recipientConcurrency: number;
  /** Step outcomes by channel (family workflow_step) and tool calls of queued runs; test runs are not counted. */
  recorder?: Recorder | null;
  /** The base of links in messages (one-click unsubscribe). */
  publicUrl: string;
}

/** Where links in messages point when STAGELINE_PUBLIC_URL is not set: the default local address. */
export const DEFAULT_PUBLIC_URL = 'http://localhost:4700';

export class WorkflowEngine {
  constructor(
    private readonly deps: Deps,
    private readonly channels: Channels,
    private readonly options: EngineOptions,
  ) {}

  /**
   * Advances every recipient of `run` as far as it can go now. Failures of deliveries and tools
   * are recorded in the step log; any other error (the database) is thrown and the run resumes
   * from its log on the next execution.
   */
  async advance(run: WorkflowRun, view: ResolutionView, options: AdvanceOptions): Promise<AdvanceResult> {
    const ctx = new RunContext(run, view, options);
    const env = view.environment;
    if (options.mode === 'queue' && !view.state.isActive('workflow', run.workflow)) {
      // The kill switch stops runs already queued too: nothing more is sent.
      return { kind: 'done', failed: true, error: `workflow/${run.workflow} was switched off in ${env.slug}; the rest of the run was not sent`, reports: [] };
    }
    const rows = options.fresh ? [] : await listStepRows(this.deps.store.db, run);
    const byRecipient = new Map<number, Map<number, StepRow>>();
    for (const row of rows) {
      if (!byRecipient.has(row.recipientIndex)) byRecipient.set(row.recipientIndex, new Map());
      byRecipient.get(row.recipientIndex)!.set(row.step, row);
    }
    let interrupted = false;
    const outcomes = await mapLimit(run.recipients, this.options.recipientConcurrency, async (recipient, index) => {
      const states = byRecipient.get(index) ?? new Map<number, StepRow>();
      byRecipient.set(index, states);
      try {
        return await this.advanceRecipient(ctx, recipient, index, states);
      } catch (error) {
        if (!(error instanceof Interrupted)) throw error;
        interrupted = true;
        return null;
      }
    });
    if (interrupted) return { kind: 'interrupted', reports: ctx.reports };
    const progress = runProgress(outcomes.filter((o): o is Exclude<NextAction, { kind: 'run' }> => o !== null));
    return { ...progress, error: progress.kind === 'done' && progress.failed ? firstFailure(run, byRecipient) : null, reports: ctx.reports };
  }

  private async advanceRecipient(ctx: RunContext, recipient: Recipient, index: number, states: Map<number, StepRow>): Promise<Exclude<NextAction, { kind: 'run' }>> {
    const steps = ctx.run.definition.steps;
    for (;;) {
      const action = nextAction(steps.length, [...states.values()], this.deps.now().toISOString());
      if (action.kind !== 'run') return action;
      if (ctx.options.signal?.aborted) throw new Interrupted();
      const row = await this.runStep(ctx, steps[action.step]!, action, recipient, index, states.get(action.step));
      states.set(action.step, row);
      faultPoint('job.after-side-effect');
      await putStepRow(this.deps.store.db, ctx.run, row);
      faultPoint('job.after-step');
    }
  }

  private async runStep(ctx: RunContext, step: WorkflowStep, action: { step: number; attempts: number }, recipient: Recipient, index: number, previous: StepRow | undefined): Promise<StepRow> {
    const now = this.deps.now();
    const at = now.toISOString();
    const base = { step: action.step, recipientIndex: index, recipient: recipient.id, type: stepType(step), startedAt: previous?.startedAt ?? at, messageIds: [] as string[] };
    if (step.type === 'delay') {
      if (previous?.status === 'waiting') return { ...base, status: 'completed', attempts: 1, detail: `waited ${step.seconds} s`, error: null, wakeAt: null, finishedAt: at };
      if (ctx.options.mode === 'test') {
        const detail = `delay of ${step.seconds} s skipped in a test run`;
        ctx.reports.push({ step: action.step, recipient: recipient.id, type: base.type, status: 'skipped', message: null, messageIds: [], detail, error: null });
        return { ...base, status: 'skipped', attempts: 0, detail, error: null, wakeAt: null, finishedAt: at };
      }
      const wakeAt = new Date(now.getTime() + step.seconds * 1000).toISOString();
      return { ...base, status: 'waiting', attempts: 0, detail: `waiting ${step.seconds} s`, error: null, wakeAt, finishedAt: null };
    }

    // Preferences are read at each attempt: a change made after the trigger (during a delay, or
    // between retries) counts. A `required` step is sent anyway, and its log says it overrode them.
    let overridden: string | null = null;
    if (step.type === 'channel') {
      const decision = await preferenceDecision(this.deps, ctx.env, recipient.id, ctx.run.workflow, step.channel, await ctx.preferencesSetting(this.deps));
      if (!decision.allowed) {
        const rule = `${decision.source === 'recipient' ? "the recipient's" : "the environment's default"} rule ${decision.rule}`;
        if (!step.required) {
          const detail = `not sent: the recipient opted out (${rule})`;
          if (ctx.options.mode === 'test') ctx.reports.push({ step: action.step, recipient: recipient.id, type: base.type, status: 'skipped', message: null, messageIds: [], detail, error: null });
          // Attempts made before the opt-out (a step that was retrying) stay counted.
          return { ...base, status: 'skipped', attempts: action.attempts, detail, error: null, wakeAt: null, finishedAt: at };
        }
        overridden = `required step, sent although the recipient opted out (${rule})`;
      }
    }

    const attempts = action.attempts + 1;
    const attempt = step.type === 'tool' ? await this.callTool(ctx, step, action.step, recipient) : await this.deliver(ctx, step, action.step, recipient, index);
    const done = this.deps.now().toISOString();
    let row: StepRow;
    if (attempt.ok) {
      const detail = overridden === null ? attempt.detail : attempt.detail === null ? overridden : `${overridden}; ${attempt.detail}`;
      row = { ...base, status: 'completed', attempts, messageIds: attempt.messageIds, detail, error: null, wakeAt: null, finishedAt: done };
    } else if (attempt.transient && ctx.options.mode === 'queue' && attempts < this.options.retry.maxAttempts) {
      const wakeAt = new Date(this.deps.now().getTime() + retryDelayMs(attempts, this.options.retry, attempt.retryAfterSeconds)).toISOString();
      row = { ...base, status: 'retrying', attempts, detail: null, error: attempt.error, wakeAt, finishedAt: null };
    } else {
      const error = attempt.transient && ctx.options.mode === 'queue' ? `${attempt.error} (gave up after ${attempts} attempts)` : attempt.error;
      row = { ...base, status: 'failed', attempts, detail: null, error, wakeAt: null, finishedAt: done };
    }
    if (ctx.options.mode === 'test') {
      ctx.reports.push({ step: action.step, recipient: recipient.id, type: row.type, status: row.status, message: attempt.preview, messageIds: row.messageIds, detail: row.detail, error: row.error });
    } else if (row.status === 'completed' || row.status === 'failed') {
      this.options.recorder?.record(ctx.env.workspaceId, ctx.env.id, 'workflow_step', step.type === 'tool' ? 'tool' : step.channel, 0, row.status === 'failed', false, Date.parse(done) - Date.parse(row.startedAt));
    }
    return row;
  }

  private async deliver(ctx: RunContext, step: Extract<WorkflowStep, { type: 'channel' }>, index: number, recipient: Recipient, recipientIndex: number): Promise<Attempt> {
    const withSecrets = step.channel !== 'in_app';
    const where = `workflow/${ctx.run.workflow} step ${index}`;
    let message: RenderedMessages[typeof step.channel];
    let preview: unknown = null;
    try {
      const layout = step.channel !== 'webhook' && step.layout ? await ctx.layout(step.layout) : undefined;
      const scope = await ctx.templateScope(recipient, withSecrets);
      message = this.render(step, layout, scope, recipient, where);
      if (step.channel === 'email') {
        (message as RenderedMessages['email']).unsubscribeUrl = unsubscribeUrl(this.deps, this.options.publicUrl, ctx.env, recipient.id, ctx.run.workflow, await ctx.preferencesSetting(this.deps));
      }
      // A test run answers what was rendered to a member, who never sees a secret's value (nor,
      // where data is obfuscated, a recipient's).
      if (ctx.options.mode === 'test') {
        const masked = ctx.options.maskRecipients ? maskedRecipient(recipient) : recipient;
        preview = withSecrets || masked !== recipient ? previewOf(() => this.render(step, layout, { ...scope, secrets: maskedSecrets(scope.secrets), recipient: masked }, masked, where)) : message;
      }
    } catch (error) {
      if (error instanceof StagelineError) return { ok: false, transient: false, error: error.message, preview };
      throw error;
    }
    try {
      const result = await this.channels.send(this.deps, ctx.env, step.channel, message, {
        deliveryId: deliveryId(ctx.run.id, index, recipientIndex),
        runId: ctx.run.id,
        workflow: ctx.run.workflow,
      });
      return { ok: true, messageIds: [result.messageId], detail: result.detail, preview };
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      const retryAfterSeconds = error.details.retryAfterSeconds;
      return { ok: false, transient: error.transient, error: `${error.code}: ${error.message}`, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}), preview };
    }
  }

  private render(
    step: Extract<WorkflowStep, { type: 'channel' }>,
    layout: LayoutContent | undefined,
    scope: RenderScope,
    recipient: Recipient,
    where: string,
  ): RenderedMessages[typeof step.channel] {
    switch (step.channel) {
      case 'email': {
        const { html: htmlSource, ...rest } = step.template as { html?: unknown };
        const t = renderValue(rest, scope, WORKFLOW_TEMPLATES, where) as { subject: unknown; text?: unknown };
        let html = htmlSource === undefined ? undefined : asText(renderValue(htmlSource, scope, EMAIL_HTML, where));
        let text = t.text === undefined ? undefined : asText(t.text);
        if (layout) {
          html = wrap(layout.html, html, scope, EMAIL_HTML_LAYOUT, `layout/${step.layout}`);
          text = wrap(layout.text, text, scope, EMAIL_LAYOUT, `layout/${step.layout}`);
        }
        const to = emailAddressOf(recipient);
        if (!to) throw new StagelineError(400, 'recipient_without_email', `${where}: recipient ${recipient.id} has no email address (recipient.email)`);
        return { to, subject: asText(t.subject), ...(html !== undefined ? { html } : {}), ...(text !== undefined ? { text } : {}) };
      }
      case 'in_app': {
        const t = renderValue(step.template, scope, IN_APP_TEMPLATES, where) as { title?: unknown; body: unknown; actionUrl?: unknown; data?: Record<string, Json> };
        let body = asText(t.body);
        if (layout) body = wrap(layout.text ?? layout.html, body, scope, IN_APP_LAYOUT, `layout/${step.layout}`)!;
        return {
          recipient: recipient.id,
          body,
          ...(t.title !== undefined ? { title: asText(t.title) } : {}),
          ...(t.actionUrl !== undefined ? { actionUrl: asText(t.actionUrl) } : {}),
          ...(t.data !== undefined ? { data: t.data } : {}),
        };
      }
      case 'webhook': {
        const t = renderValue(step.template, scope, WORKFLOW_TEMPLATES, where) as { body: Json; headers?: Record<string, unknown> };
        const headers = t.headers ? Object.fromEntries(Object.entries(t.headers).map(([name, value]) => [name, asText(value)])) : undefined;
        return { payload: t.body, ...(headers ? { headers } : {}) };
      }
    }
  }

  private async callTool(ctx: RunContext, step: Extract<WorkflowStep, { type: 'tool' }>, index: number, recipient: Recipient): Promise<Attempt> {
    const id = `tool/${step.tool}`;
    let preview: unknown = null;
    let response;
    try {
      const tool = await ctx.tool(step.tool);
      const scope = await ctx.templateScope(recipient, false);
      const where = `workflow/${ctx.run.workflow} step ${index}`;
      const input = renderValue(step.input ?? {}, scope, TOOL_INPUT_TEMPLATES, where) as Record<string, unknown>;
      const previewInput = ctx.options.maskRecipients ? previewOf(() => renderValue(step.input ?? {}, { ...scope, recipient: maskedRecipient(recipient) }, TOOL_INPUT_TEMPLATES, where)) : input;
      preview = { tool: step.tool, input: previewInput };
      const recorder = ctx.options.mode === 'queue' ? this.options.recorder : null;
      response = await invokeTool(this.deps.egress, ctx.view, tool, input, { ...(ctx.options.signal ? { signal: ctx.options.signal } : {}), ...(recorder ? { recorder } : {}) });
    } catch (error) {
      if (ctx.options.signal?.aborted) throw new Interrupted();
      if (!(error instanceof StagelineError)) throw error;
      // No answer in time or no connection may pass; a refused or invalid call will not.
      const transient = error.code === 'upstream_timeout' || error.code === 'upstream_unreachable';
      return { ok: false, transient, error: `${error.code}: ${error.message}`, preview };
    }
    const detail = `${id} answered HTTP ${response.status}`;
    if (response.status >= 200 && response.status < 300) return { ok: true, messageIds: [], detail, preview };
    const transient = response.status >= 500 || response.status === 429 || response.status === 408;
    return { ok: false, transient, error: `tool_error: ${detail}`, preview };
  }
}

/** The run's error: the first failed step (by step, then recipient), or a note that one failed. */
function firstFailure(run: WorkflowRun, byRecipient: Map<number, Map<number, StepRow>>): string {
  const failed = [...byRecipient.values()]
    .flatMap((steps) => [...steps.values()])
    .filter((row) => row.status === 'failed')
    .sort((a, b) => a.step - b.step || a.recipientIndex - b.recipientIndex);
  const first = failed[0];
  if (!first) return `workflow/${run.workflow} failed`;
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more)` : '';
  return `step ${first.step} (${first.type}) for ${first.recipient} failed: ${first.error ?? 'unknown error'}${more}`;
}
