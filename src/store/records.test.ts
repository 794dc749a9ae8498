// The store's border: rows leave src/store as camelCase records, so no code in the layers
// above it reads a snake_case column. Scans the source of those layers, strings and comments
// left out.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const LAYERS = ['src/services', 'src/http', 'src/runtime'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The code of a TypeScript file with the text of comments and string literals blanked (template expressions kept). */
export function codeOnly(source: string): string {
  let out = '';
  const templates: number[] = []; // brace depth at which each open template literal resumes
  let depth = 0;
  let i = 0;
  const blank = (text: string) => text.replace(/[^\n]/g, ' ');
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? source.length : end;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      out += c + blank(source.slice(i + 1, j)) + c;
      i = j + 1;
    } else if (c === '`' || (c === '}' && templates.length > 0 && templates[templates.length - 1] === depth)) {
      // Template text, up to its end or the next `${`.
      if (c === '}') templates.pop();
      let j = i + 1;
      while (j < source.length && source[j] !== '`' && !(source[j] === '$' && source[j + 1] === '{')) j += source[j] === '\\' ? 2 : 1;
      out += c + blank(source.slice(i + 1, j));
      if (source[j] === '$') {
        templates.push(depth);
        out += '${';
        i = j + 2;
      } else {
        out += '`';
        i = j + 1;
      }
    } else {
      if (c === '{') depth++;
      if (c === '}') depth--;
      out += c;
      i++;
    }
  }
  return out;
}

const SNAKE_CASE_ACCESS = /(?<![\w$])[A-Za-z_$][\w$]*\??\.([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b/g;

function snakeCaseReads(file: string): string[] {
  const lines = codeOnly(readFileSync(join(ROOT, file), 'utf8')).split('\n');
  return lines.flatMap((line, index) => [...line.matchAll(SNAKE_CASE_ACCESS)].map((m) => `${file}:${index + 1}: ${m[0]}`));
}

describe('codeOnly', () => {
  it('blanks strings and comments and keeps template expressions', () => {
    const code = codeOnly("const a = 'x.in_app'; // row.created_at\nconst b = `${row.created_at}|${'y.z_w'}` /* q.r_s */;");
    expect(code).toContain('row.created_at}');
    expect(code).not.toContain('x.in_app');
    expect(code).not.toContain('y.z_w');
    expect(code).not.toContain('q.r_s');
    expect(code.split('row.created_at')).toHaveLength(2);
  });
});

describe('records leave the store in camelCase', () => {
  const files = LAYERS.flatMap(sourceFiles).map((file) => relative(ROOT, join(ROOT, file)));

  it('finds the source files it scans', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(files).toContain('src/services/people.ts');
  });

  it('no service, route or runtime module reads a snake_case property', () => {
    expect(files.flatMap(snakeCaseReads)).toEqual([]);
  });

  it('catches a snake_case read', () => {
    expect([...codeOnly('if (row.revoked_at) return;').matchAll(SNAKE_CASE_ACCESS)].map((m) => m[1])).toEqual(['revoked_at']);
  });
});
