// `validate`: the checks a file needs no server for (YAML, file name, kind folder, app label,
// and offline the kinds' bundled JSON Schemas), else the server's own rules on the whole tree at once (POST …/validations writes nothing):
// kind schemas, templates, and the references the target environment must resolve.
import type { Connection } from '../api.js';
import { KIND_JSON_SCHEMAS } from '../api/kinds.js';
import { canonicalJson } from './format.js';
import { schemaIssues } from './json-schema.js';
import type { LocalTree } from './tree.js';

export interface TreeIssue {
  path: string;
  field: string;
  message: string;
  code: string;
}

/** Bodies stay well under the server's 1 MiB limit; each request names the rest of the tree as present. */
const MAX_BODY_BYTES = 700 * 1024;
const MAX_PER_REQUEST = 2000;

export async function validateTree(tree: LocalTree, server: { conn: Connection; env: string } | null): Promise<{ issues: TreeIssue[] }> {
  const issues: TreeIssue[] = tree.issues.map((i) => ({ ...i, code: 'invalid_file' }));
  if (!server) {
    // Offline: the bundled kind schemas (the server's own, as GET /api/kinds serves them).
    for (const file of tree.files.values()) {
      for (const issue of schemaIssues(KIND_JSON_SCHEMAS[file.kind], file.content)) issues.push({ path: file.path, ...issue, code: 'invalid_content' });
    }
    return { issues };
  }
  if (tree.files.size === 0) return { issues };
  const { conn, env } = server;
  const files = [...tree.files.values()];
  const all = files.map((f) => `${f.kind}/${f.key}`);
  const idsBytes = canonicalJson(all).length;
  const batches: (typeof files)[] = [];
  let batch: typeof files = [];
  let bytes = 0;
  for (const file of files) {
    const size = canonicalJson(file.content).length + 100;
    if (batch.length > 0 && (bytes + size + idsBytes > MAX_BODY_BYTES || batch.length >= MAX_PER_REQUEST)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  const byId = new Map(files.map((f) => [`${f.kind}/${f.key}`, f]));
  for (const part of batches) {
    const answer = await conn.call(
      conn.api.POST('/api/workspaces/{ws}/environments/{env}/validations', {
        params: { path: conn.ws({ env }) },
        body: {
          resources: part.map((f) => ({ kind: f.kind, key: f.key, content: f.content, app: f.app })),
          ...(batches.length > 1 ? { present: all } : {}),
        },
      }),
    );
    for (const issue of answer.issues) {
      const file = byId.get(`${issue.kind}/${issue.key}`);
      issues.push({ path: file?.path ?? `${issue.kind}/${issue.key}`, field: issue.field, message: issue.message, code: issue.code });
    }
  }
  return { issues };
}
