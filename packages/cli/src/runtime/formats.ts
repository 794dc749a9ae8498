// The files `stageline export` writes: dotenv (quoted so that every dotenv reader and `sh` read
// back the same bytes), JSON and YAML objects of name → string.
import { stringify } from 'yaml';

export const FORMATS = ['dotenv', 'json', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

/** Characters no dotenv reader or shell treats specially when unquoted. */
const PLAIN = /^[A-Za-z0-9_./:@%+,=-]+$/;

/**
 * One dotenv value: plain when it holds only plain characters; in single quotes (taken literally
 * by dotenv, docker compose, python-dotenv and `sh`: `$`, `#`, `"` and `\` stay as they are) when
 * it holds no `'` and no line break; otherwise in double quotes with `\\`, `\"`, `\$`, `` \` ``,
 * `\n` and `\r` escaped, which keeps every entry on one line.
 */
export function dotenvValue(value: string): string {
  if (value === '') return '';
  if (PLAIN.test(value)) return value;
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  const escaped = value.replace(/[\\"$`\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
  return `"${escaped}"`;
}

export function formatVariables(values: Record<string, string>, format: Format): string {
  switch (format) {
    case 'dotenv':
      return Object.entries(values)
        .map(([name, value]) => `${name}=${dotenvValue(value)}\n`)
        .join('');
    case 'json':
      return `${JSON.stringify(values, null, 2)}\n`;
    case 'yaml':
      // Every value stays a string when read back (no `true` or `8080` turning into other types).
      return Object.keys(values).length === 0 ? '{}\n' : stringify(values, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
  }
}
