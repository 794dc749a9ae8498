// Validation of `config` values against the JSON Schema their author attached. Compiled
// validators are cached by schema text, since the same schema is checked on every write.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import type { FieldIssue } from '../errors.js';

const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 500;

function compile(schema: object): ValidateFunction | string {
  const text = JSON.stringify(schema);
  const hit = compiled.get(text);
  if (hit) return hit;
  try {
    // A root `$id` would register the schema globally and collide with another document's.
    const { $id: _id, ...anonymous } = schema as Record<string, unknown>;
    const validate = ajv.compile(anonymous);
    if (compiled.size >= MAX_CACHED) {
      const oldest = compiled.keys().next().value as string;
      ajv.removeSchema(compiled.get(oldest)!.schema as object);
      compiled.delete(oldest);
    }
    compiled.set(text, validate);
    return validate;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export function validateAgainstJsonSchema(schema: object, value: unknown, prefix: string): FieldIssue[] {
  const validate = compile(schema);
  if (typeof validate === 'string') {
    return [{ field: `${prefix}.schema`, message: `is not a valid JSON Schema: ${validate}`, in: 'body' }];
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => {
    const pointer = error.instancePath.split('/').filter(Boolean).join('.');
    const missing = error.keyword === 'required' ? String((error.params as { missingProperty?: string }).missingProperty) : '';
    const field = [prefix, 'value', pointer, missing].filter(Boolean).join('.');
    return { field, message: error.message ?? 'does not match the schema', in: 'body' as const };
  });
}
