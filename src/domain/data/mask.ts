// Obfuscation of data records for members who may not see them: every value is masked field by
// field while the record's shape (object keys, array lengths) stays readable for debugging.

/** What every number becomes: a number of any kind would look like real data. */
export const MASKED_NUMBER = '***';

const EMAIL = /^([^\s@]+)@([^\s@]+)$/;
// Digits with the usual phone punctuation; 7 to 15 digits (E.164) in all, checked below.
const PHONE = /^\+?[\d\s().-]+$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function first(text: string): string {
  return String.fromCodePoint(text.codePointAt(0)!);
}

/** `jane.doe@example.com` → `j***@e***.com`: first letters and the top-level domain. */
function maskEmail(local: string, domain: string): string {
  const dot = domain.lastIndexOf('.');
  const tld = dot > 0 && dot < domain.length - 1 ? domain.slice(dot) : '';
  return `${first(local)}***@${first(domain)}***${tld}`;
}

/** `+1 (555) 010-4412` → `+*********12`: the last two digits, one star per other digit. */
function maskPhone(text: string, digits: string): string {
  return (text.startsWith('+') ? '+' : '') + '*'.repeat(digits.length - 2) + digits.slice(-2);
}

export function maskString(text: string): string {
  if (text === '') return '';
  const email = EMAIL.exec(text);
  if (email) return maskEmail(email[1]!, email[2]!);
  if (PHONE.test(text) && !ISO_DATE.test(text)) {
    const digits = text.replace(/\D/g, '');
    if (digits.length >= 7 && digits.length <= 15) return maskPhone(text, digits);
  }
  // A one-character string would be shown whole by "first character then ***".
  return [...text].length === 1 ? '***' : `${first(text)}***`;
}

/**
 * A value with the same keys and array lengths and every string and number masked; booleans
 * and null are kept (they say which branch a record took, rarely who it is about).
 */
export function maskValue(value: unknown): unknown {
  if (typeof value === 'string') return maskString(value);
  if (typeof value === 'number') return MASKED_NUMBER;
  if (Array.isArray(value)) return value.map(maskValue);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    // defineProperty: a key named `__proto__` stays a plain key.
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: maskValue(item), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}
