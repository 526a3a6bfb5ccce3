import type { DestinationStream, Level, LoggerOptions } from 'pino';
import { stdTimeFunctions } from 'pino';
import type { LogFormat, LogLevelName } from '../config/app-config';
import { requestScopeFields } from './request-scope';

/** Nest's level names, as pino calls them. */
export const PINO_LEVEL: Record<LogLevelName, Level> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/** Fields every line has; the text format prints them in its fixed prefix instead of as `key=value`. */
const PREFIX_FIELDS = new Set(['level', 'time', 'msg', 'context', 'err']);
/** A request line's message already says these (`GET /v1/models 200 12ms`). */
const REQUEST_MESSAGE_FIELDS = new Set([...PREFIX_FIELDS, 'method', 'route', 'status', 'durationMs']);

/**
 * pino options shared by both formats: string levels, ISO times, no pid/hostname noise, and the `reqId` of the
 * request being served on every line written while it is (`request-scope.ts`).
 */
export function pinoOptions(level: LogLevelName): LoggerOptions {
  return {
    level: PINO_LEVEL[level],
    base: undefined,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: requestScopeFields,
  };
}

/**
 * Where lines go: JSON lines on stdout as pino writes them, or (`text`) one readable line per entry,
 * `2025-01-31T10:00:00.000Z INFO  [Context] message key=value`, without needing pino-pretty.
 */
export function logDestination(format: LogFormat, out: { write(text: string): unknown } = process.stdout): DestinationStream {
  if (format === 'json') return { write: (line: string) => void out.write(line) };
  return { write: (line: string) => void out.write(formatTextLine(line)) };
}

/** One pino JSON line as text; a line that is not JSON passes through unchanged. */
export function formatTextLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = fieldText(entry.level, 'info').toUpperCase().padEnd(5);
  const context = typeof entry.context === 'string' ? `[${entry.context}] ` : '';
  const message = typeof entry.msg === 'string' ? entry.msg : '';
  const inMessage = 'durationMs' in entry ? REQUEST_MESSAGE_FIELDS : PREFIX_FIELDS;
  const extras = Object.entries(entry)
    .filter(([key, value]) => !inMessage.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  const err = entry.err as { message?: unknown; stack?: unknown } | undefined;
  const errorText = err ? ` ${typeof err.stack === 'string' ? err.stack : String(err.message)}` : '';
  return `${fieldText(entry.time, '')} ${level} ${context}${message}${extras.length ? ` ${extras.join(' ')}` : ''}${errorText}\n`;
}

/** A parsed JSON field as text: scalars as they are, objects and arrays as JSON, `fallback` when absent or null. */
function fieldText(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return fallback;
  return JSON.stringify(value);
}
