// Validation of resources that are not written: the server's own write-time rules (kind schemas,
// templates, app labels) and what a promotion into the environment would refuse (layouts and
// tools a workflow names, variables and secrets with no value there), for CI and pull requests.
import { authorize } from '../domain/auth/permissions.js';
import { appLabelIssue, contentIssues, isResourceKind, KIND_SCHEMAS, RESOURCE_KEY_PATTERN, type WorkflowContent } from '../domain/resources/kinds.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { contentReferences, missingReferences } from '../domain/templates/template.js';
import { workflowReferences } from '../domain/workflows/progress.js';
import { secretsForEnvironment } from '../store/secrets.js';
import { variablesForEnvironment } from '../store/variables.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';
import { draftSnapshot } from './snapshots.js';

export interface CandidateResource {
  kind: string;
  key: string;
  content: unknown;
  app?: string | null | undefined;
}

export type ValidationIssueCode = 'invalid_resource' | 'invalid_content' | 'missing_resource' | 'missing_reference';

export interface ValidationIssue {
  kind: string;
  key: string;
  field: string;
  message: string;
  code: ValidationIssueCode;
}

/**
 * Checks the resources as if they were written into the environment (its working state: drafts
 * included where it has them) together: a reference resolves to a posted resource or to one the
 * environment holds. Nothing is written.
 */
export async function validateResources(deps: Deps, ctx: CallContext, slug: string, resources: CandidateResource[], present: readonly string[] = []) {
  authorize(ctx.actor, 'resource.read', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  const issues: ValidationIssue[] = [];
  const posted = new Set<string>();
  const valid: { id: string; kind: string; content: unknown }[] = [];

  for (const resource of resources) {
    const id = resourceId(resource.kind, resource.key);
    const issue = (field: string, message: string, code: ValidationIssueCode) => issues.push({ kind: resource.kind, key: resource.key, field, message, code });
    if (!isResourceKind(resource.kind)) {
      issue('kind', `must be one of ${Object.keys(KIND_SCHEMAS).join(', ')}`, 'invalid_resource');
      continue;
    }
    if (!RESOURCE_KEY_PATTERN.test(resource.key)) {
      issue('key', 'must be 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit', 'invalid_resource');
      continue;
    }
    if (posted.has(id)) {
      issue('key', `${id} is given more than once`, 'invalid_resource');
      continue;
    }
    posted.add(id);
    const found = contentIssues(resource.kind, resource.content);
    const app = appLabelIssue(resource.app);
    if (app) found.push(app);
    for (const f of found) issue(f.field, f.message, 'invalid_content');
    if (found.length === 0) valid.push({ id, kind: resource.kind, content: resource.content });
  }

  const [snapshot, vars, secrets] = await Promise.all([
    draftSnapshot(db, env),
    variablesForEnvironment(db, env.workspaceId, env.id),
    secretsForEnvironment(db, env),
  ]);
  const alongside = new Set(present);
  const exists = (ref: string) => posted.has(ref) || alongside.has(ref) || snapshot.has(ref);
  for (const { id, kind, content } of valid) {
    const [resourceKind, key] = [kind, id.slice(kind.length + 1)];
    if (kind === 'workflow') {
      for (const ref of workflowReferences(content as WorkflowContent)) {
        if (!exists(ref)) issues.push({ kind: resourceKind, key, field: 'content.steps', message: `uses ${ref}, which ${slug} does not have`, code: 'missing_resource' });
      }
    }
  }
  const missing = missingReferences(new Map(valid.map((r) => [r.id, contentReferences(r.content)])), { vars: new Set(Object.keys(vars)), secrets: new Set(secrets.keys()) });
  for (const { reference, resources: users } of missing) {
    for (const user of users) {
      const slash = user.indexOf('/');
      const what = reference.startsWith('secrets.') ? 'secret' : 'variable';
      issues.push({ kind: user.slice(0, slash), key: user.slice(slash + 1), field: 'content', message: `uses ${reference}, but ${slug} has no value for that ${what}`, code: 'missing_reference' });
    }
  }

  issues.sort((a, b) => (a.kind + '/' + a.key < b.kind + '/' + b.key ? -1 : a.kind + '/' + a.key > b.kind + '/' + b.key ? 1 : 0));
  return { environment: env.slug, release: env.headRelease, valid: issues.length === 0, checked: resources.length, issues };
}
