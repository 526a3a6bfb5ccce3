import type AjvDraft07 from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

/** Compiled once per schema object: the DTO check compiles it, later rounds reuse it, and it goes with the request. */
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Compiles a client's schema (function `parameters`, `response_format.json_schema.schema`); throws with Ajv's
 * reason when it is not a usable JSON schema. One Ajv per schema: a shared one would keep every request's schema
 * in its cache forever and refuse a second schema with the same `$id`. Not strict: clients' schemas carry
 * keywords Ajv does not know (`strict`, `format` values without ajv-formats), and those must not fail a request.
 * The dialect follows `$schema` (zod 4 and MCP tools declare 2020-12); one no Ajv knows is read as draft-07.
 */
export function compileSchema(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    const { $schema: dialect, ...rest } = schema as { $schema?: unknown };
    const ajv = new (ajvFor(dialect))({ strict: false, allErrors: true, validateFormats: false, logger: false });
    validate = ajv.compile(typeof dialect === 'string' && ajv.getSchema(dialect) ? schema : rest);
    compiled.set(schema, validate);
  }
  return validate;
}

type AjvClass = typeof AjvDraft07;

/**
 * The Ajv of a `$schema`, loaded on the first schema of that dialect: most requests carry none, and a start does
 * not need its sixty modules.
 */
function ajvFor(dialect: unknown): AjvClass {
  /* eslint-disable @typescript-eslint/no-require-imports -- lazy synchronous loads, see above */
  if (typeof dialect === 'string') {
    if (dialect.includes('/draft/2020-12/')) return (require('ajv/dist/2020') as { default: AjvClass }).default;
    if (dialect.includes('/draft/2019-09/')) return (require('ajv/dist/2019') as { default: AjvClass }).default;
    if (dialect.includes('/draft-04/')) return (require('ajv-draft-04') as { default: AjvClass }).default;
  }
  return (require('ajv') as { default: AjvClass }).default;
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** Why a schema cannot be compiled, or null when it can. */
export function schemaProblem(schema: unknown): string | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'must be a JSON schema object';
  try {
    compileSchema(schema);
    return null;
  } catch (error) {
    return `is not a valid JSON schema (${(error as Error).message})`;
  }
}

/** Validates a value; returns a readable list of problems, or null when it conforms. */
export function schemaErrors(schema: object, value: unknown): string | null {
  const validate = compileSchema(schema);
  if (validate(value)) return null;
  return (validate.errors ?? []).slice(0, 5).map(describeError).join('; ');
}

function describeError(error: ErrorObject): string {
  const where = error.instancePath || '(root)';
  const extra =
    error.keyword === 'additionalProperties' ? ` '${String((error.params as { additionalProperty?: string }).additionalProperty)}'` : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}
