// The known settings of an environment as forms: each field's path in the setting's value, its
// input, and how form text becomes the JSON the API checks (src/domain/settings/settings.ts).
// Empty inputs are left out, so the API names a required field that is missing.

export type FieldType = 'text' | 'number' | 'boolean' | 'list' | 'json' | 'secret-name';

export interface SettingField {
  path: string;
  label: string;
  type: FieldType;
  hint?: string;
  placeholder?: string;
}

export interface SettingForm {
  name: string;
  title: string;
  description: string;
  fields: SettingField[];
}

export const SETTING_FORMS: SettingForm[] = [
  {
    name: 'channel.email',
    title: 'Email channel',
    description: 'The SMTP server email steps of workflows send through in this environment.',
    fields: [
      { path: 'host', label: 'SMTP host', type: 'text', placeholder: 'smtp.example.com' },
      { path: 'port', label: 'Port', type: 'number', placeholder: '587' },
      { path: 'secure', label: 'TLS from the start (port 465)', type: 'boolean' },
      { path: 'from', label: 'From', type: 'text', placeholder: 'Acme <hello@acme.example>' },
      { path: 'replyTo', label: 'Reply-To (optional)', type: 'text' },
      { path: 'auth.user', label: 'SMTP user (optional)', type: 'text' },
      {
        path: 'auth.passwordSecret',
        label: 'Password secret',
        type: 'secret-name',
        hint: 'The name of a secret of this environment that holds the SMTP password (set it on the Secrets page). A setting never holds a password itself.',
      },
      { path: 'timeoutMs', label: 'Timeout (ms, optional)', type: 'number' },
    ],
  },
  {
    name: 'channel.webhook',
    title: 'Webhook channel',
    description: 'Where webhook steps of workflows post, signed with a secret of this environment.',
    fields: [
      { path: 'url', label: 'URL', type: 'text', placeholder: 'https://hooks.example.com/stageline' },
      { path: 'signingSecret', label: 'Signing secret', type: 'secret-name', hint: 'The name of a secret of this environment used to sign each delivery.' },
      { path: 'timeoutMs', label: 'Timeout (ms, optional)', type: 'number' },
      { path: 'headers', label: 'Extra headers (JSON object, optional)', type: 'json', placeholder: '{"X-Team": "billing"}' },
    ],
  },
  {
    name: 'channel.in_app',
    title: 'In-app channel',
    description: 'The in-app feed of this environment.',
    fields: [
      { path: 'enabled', label: 'Enabled', type: 'boolean' },
      { path: 'retentionDays', label: 'Keep messages for (days, optional)', type: 'number' },
    ],
  },
  {
    name: 'branding',
    title: 'Branding',
    description: 'Name, logo and colour that layouts and emails of this environment use.',
    fields: [
      { path: 'name', label: 'Name', type: 'text' },
      { path: 'logoUrl', label: 'Logo URL', type: 'text', placeholder: 'https://acme.example/logo.svg' },
      { path: 'primaryColor', label: 'Primary colour', type: 'text', placeholder: '#2552c9', hint: 'A #rrggbb colour.' },
    ],
  },
  {
    name: 'egress',
    title: 'Egress',
    description:
      'Which addresses Stageline itself may call from this environment (tools, channels, alert receivers, gateway upstreams), beyond the defaults. Deny wins over allow.',
    fields: [
      { path: 'allow', label: 'Allow', type: 'list', hint: 'One per line: an IP address, a CIDR range (10.0.0.0/8) or a host name (api.example.com, *.example.com).' },
      { path: 'deny', label: 'Deny', type: 'list', hint: 'One per line, as above.' },
    ],
  },
  {
    name: 'cors',
    title: 'CORS',
    description: "Browser origins allowed to read the runtime API's answers to this environment's keys.",
    fields: [{ path: 'origins', label: 'Allowed origins', type: 'list', hint: 'One per line: "*" or an origin such as https://app.example or http://localhost:5173.' }],
  },
  {
    name: 'feeds',
    title: 'Feeds',
    description: 'How browsers read in-app feeds of this environment.',
    fields: [
      { path: 'requireRecipientToken', label: 'Require a recipient token with publishable keys', type: 'boolean' },
      { path: 'signingKeyVersion', label: 'Signing key version (optional)', type: 'number', hint: 'Raise it to rotate the recipient-token signing secret: every issued token stops working.' },
    ],
  },
];

export type FormState = Record<string, string>;

function get(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The form's text for a setting's current value. */
export function toForm(form: SettingForm, value: unknown): FormState {
  const state: FormState = {};
  for (const field of form.fields) {
    const v = get(value, field.path);
    if (v === undefined) state[field.path] = '';
    else if (field.type === 'list') state[field.path] = Array.isArray(v) ? v.join('\n') : JSON.stringify(v);
    else if (field.type === 'json') state[field.path] = JSON.stringify(v, null, 2);
    else if (field.type === 'boolean') state[field.path] = v === true ? 'true' : v === false ? 'false' : '';
    else state[field.path] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return state;
}

/** The setting's value from the form; problems the browser can tell (bad JSON) by field path. */
export function fromForm(form: SettingForm, state: FormState): { value: Record<string, unknown>; problems: Record<string, string> } {
  const value: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  for (const field of form.fields) {
    const text = state[field.path] ?? '';
    let v: unknown;
    if (field.type === 'list') {
      const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
      // An empty list is a value too (e.g. no origins); only the optional egress lists are left out.
      v = lines.length === 0 && form.name === 'egress' ? undefined : lines;
    } else if (text.trim() === '') {
      v = undefined;
    } else if (field.type === 'number') {
      v = Number(text);
    } else if (field.type === 'boolean') {
      v = text === 'true';
    } else if (field.type === 'json') {
      try {
        v = JSON.parse(text);
      } catch {
        problems[field.path] = 'is not valid JSON';
      }
    } else {
      v = text.trim();
    }
    if (v === undefined) continue;
    const parts = field.path.split('.');
    let target = value;
    for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>;
    target[parts[parts.length - 1]!] = v;
  }
  return { value, problems };
}

/**
 * The API's field errors (`value.origins.1`) by form field: a list field collects the errors of
 * its entries ("line 2: …"); anything else is left for the form's notice.
 */
export function errorsByField(form: SettingForm, errors: Record<string, string>): { byField: Record<string, string>; rest: Record<string, string> } {
  const byField: Record<string, string> = {};
  const rest: Record<string, string> = {};
  for (const [path, message] of Object.entries(errors)) {
    const inner = path.startsWith('value.') ? path.slice('value.'.length) : path === 'value' ? '' : null;
    const field = inner === null ? undefined : form.fields.find((f) => inner === f.path || inner.startsWith(`${f.path}.`));
    if (!field) {
      rest[path] = message;
      continue;
    }
    const index = field.type === 'list' && inner !== field.path ? Number(inner!.slice(field.path.length + 1).split('.')[0]) : NaN;
    const text = Number.isInteger(index) ? `line ${index + 1}: ${message}` : message;
    byField[field.path] = byField[field.path] ? `${byField[field.path]}; ${text}` : text;
  }
  return { byField, rest };
}
