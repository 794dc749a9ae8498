// Finding secret plaintexts in bytes at rest (SQLite files, a pg_dump): each plaintext as it is,
// in hex, and in base64 / base64url at every byte alignment (a value encoded inside a longer
// string lands at any of three offsets), searched in one pass over each buffer.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** The byte strings a plaintext could be stored as; each at least 12 bytes for a plaintext of 16 or more. */
export function encodings(plaintext: string): string[] {
  const bytes = Buffer.from(plaintext, 'utf8');
  const out = new Set<string>([bytes.toString('latin1'), bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), bytes]);
    for (const alphabet of ['base64', 'base64url'] as const) {
      const text = padded.toString(alphabet).replace(/=+$/, '');
      // The first group holds padding bytes when pad > 0; the last depends on what follows.
      out.add(text.slice(pad > 0 ? 4 : 0, text.length - 4));
    }
  }
  return [...out];
}

const PREFIX = 12;

/** Which of the plaintexts (in any of their encodings) occur in any of the buffers. */
export class PlaintextScanner {
  private readonly byPrefix = new Map<string, { needle: string; plaintext: string }[]>();

  constructor(readonly plaintexts: string[]) {
    for (const plaintext of plaintexts) {
      for (const needle of encodings(plaintext)) {
        if (needle.length < PREFIX) throw new Error(`plaintext ${plaintext.length} chars is too short to scan for`);
        const key = needle.slice(0, PREFIX);
        const list = this.byPrefix.get(key) ?? [];
        list.push({ needle, plaintext });
        this.byPrefix.set(key, list);
      }
    }
  }

  /** The plaintexts found in `buffers`, with where (label) each was seen first. */
  scan(buffers: { label: string; bytes: Buffer }[]): Map<string, string> {
    const found = new Map<string, string>();
    for (const { label, bytes } of buffers) {
      const text = bytes.toString('latin1');
      for (let i = 0; i + PREFIX <= text.length; i++) {
        const candidates = this.byPrefix.get(text.slice(i, i + PREFIX));
        if (!candidates) continue;
        for (const { needle, plaintext } of candidates) {
          if (!found.has(plaintext) && text.startsWith(needle, i)) found.set(plaintext, `${label}@${i}`);
        }
      }
    }
    return found;
  }
}

/** The SQLite database file and its -wal / -shm companions, as they are now. */
export function sqliteFiles(path: string): { label: string; bytes: Buffer }[] {
  return [path, `${path}-wal`, `${path}-shm`].filter((file) => existsSync(file)).map((file) => ({ label: file.slice(path.length) || '.db', bytes: readFileSync(file) }));
}

/** A plain-text pg_dump of the database the URL names. */
export function pgDump(url: string): Buffer {
  return execFileSync('/usr/bin/pg_dump', ['--no-owner', '--dbname', url], { maxBuffer: 1 << 30 });
}
