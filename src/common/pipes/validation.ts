import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { ApiError } from '../errors/api-error';
import type { ErrorNameWith } from '../errors/error-catalog';

/** Validates DTOs and reports the first problem in OpenAI's shape, naming the field in `param`. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    forbidUnknownValues: false,
    // The holder of a value (`target`) lets a detail depend on a sibling field, e.g. content on the role. The value
    // itself is kept on every error, also on one with children (the pipe strips it there by default), since a field
    // of the wrong type must not read as missing: `tools: {…}` fails `isArray` and also has children for its keys.
    validationError: { target: true, value: true },
    exceptionFactory: (errors) => validationError(errors),
  });
}

/**
 * What a validator of a structured value (message content, tool calls) found wrong inside it, so the error
 * names the exact field. Given as `context: { detail }` in the validator's options.
 */
export interface ValidationDetail {
  /** Appended to the property's path, e.g. `[0].text`. */
  path: string;
  message: string;
  missing?: boolean;
  /** The catalog entry to answer with, when not plain `invalid_value` (its message reads the same way, or names only the field). */
  code?: ErrorNameWith<{ param: string | number; problem: string | number }> | ErrorNameWith<{ param: string | number }>;
}
/** `object` is the object holding the value (e.g. the message whose content is checked). */
export type ValidationDetailFn = (value: unknown, object?: object) => ValidationDetail | null;

/**
 * Each item of an array is an object (`@ValidateNested({ each: true })` alone lets a nested array through, and a
 * list where an object belongs would reach the services). The first other item is named, e.g. `messages[2]`.
 */
export function IsObjectItems(what: string, options?: ValidationOptions): PropertyDecorator {
  const problem: ValidationDetailFn = (value) => {
    if (!Array.isArray(value)) return null;
    const index = value.findIndex((item) => typeof item !== 'object' || item === null || Array.isArray(item));
    if (index < 0) return null;
    const item: unknown = value[index];
    return { path: `[${index}]`, message: `must be ${what}`, missing: item === null || item === undefined };
  };
  return ValidatedBy('isObjectItems', problem, `must be an array of ${what}s`, options);
}

/** An array that, when given, holds at least one item: OpenAI's `empty_array` refusal otherwise (`tools: []`). */
export function IsNotEmptyArray(options?: ValidationOptions): PropertyDecorator {
  const problem: ValidationDetailFn = (value) =>
    Array.isArray(value) && value.length === 0 ? { path: '', message: 'must not be empty', code: 'empty_array' } : null;
  return ValidatedBy('isNotEmptyArray', problem, 'must not be empty', options);
}

/**
 * A decorator whose verdict and whose error detail (the field named in `param`, the message) both come from
 * `problem`, which answers null for a valid value.
 */
export function ValidatedBy(
  name: string,
  problem: ValidationDetailFn,
  defaultMessage: string,
  options?: ValidationOptions,
): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: {
        validate: (value: unknown, args) => problem(value, args?.object) === null,
        defaultMessage: () => defaultMessage,
      },
    },
    { ...options, context: { detail: problem } },
  );
}

export function validationError(errors: ValidationError[]): ApiError {
  const { path, error } = firstLeaf(errors[0], '');
  const detail = detailOf(error);
  if (detail) {
    const at = `${path}${detail.path}`;
    if (detail.missing) return ApiError.of('missing_required_parameter', { param: at }, { param: at });
    return ApiError.of(detail.code ?? 'invalid_value', { param: at, problem: detail.message }, { param: at });
  }
  const missing = error.value === undefined || error.value === null;
  const message = mainConstraint(error.constraints ?? {}) ?? 'is invalid';
  const text = message.startsWith(error.property) ? message.slice(error.property.length).trim() : message;
  if (missing) return ApiError.of('missing_required_parameter', { param: path }, { param: path });
  return ApiError.of('invalid_value', { param: path, problem: text }, { param: path });
}

function detailOf(error: ValidationError): ValidationDetail | null {
  for (const name of Object.keys(error.constraints ?? {})) {
    const detail = (error.contexts?.[name] as { detail?: ValidationDetailFn } | undefined)?.detail;
    const found = detail?.(error.value, error.target);
    if (found) return found;
  }
  return null;
}

function firstLeaf(error: ValidationError, prefix: string): { path: string; error: ValidationError } {
  const segment = /^\d+$/.test(error.property) ? `[${error.property}]` : prefix ? `.${error.property}` : error.property;
  const path = `${prefix}${segment}`;
  if (!error.constraints && error.children?.length) return firstLeaf(error.children[0], path);
  return { path, error };
}

/** A wrong type says more than a range or length problem that follows from it ("must be an integer", not "must be >= 1"). */
const TYPE_CONSTRAINTS = ['isDefined', 'isArray', 'isObject', 'isString', 'isBoolean', 'isInt', 'isNumber', 'isMessageContent', 'isIn'];

function mainConstraint(constraints: Record<string, string>): string | undefined {
  const typeCheck = TYPE_CONSTRAINTS.find((name) => name in constraints);
  return typeCheck ? constraints[typeCheck] : Object.values(constraints)[0];
}
