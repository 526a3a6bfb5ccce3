import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestFactsOf } from '../common/http/request-facts';
import { routeOf } from '../common/http/route-of';
import { maskSecret } from '../common/util/secrets';

/** The caller's bearer, masked; no other header is read. */
export function maskedIdentity(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? maskSecret(match[1]) : undefined;
}

export interface RequestLogFields {
  method: string;
  route: string | null;
  status: number;
  durationMs: number;
  identity?: string;
  upstreamAttempts?: number;
  answerId?: string;
}

/** The fields of the one line logged per answered request. */
export function requestLogFields(request: IncomingMessage, response: ServerResponse, durationMs: number): RequestLogFields {
  const facts = requestFactsOf(request);
  const attempts = facts?.upstreamAttempts;
  return {
    method: request.method ?? 'GET',
    route: routeOf(request),
    status: response.statusCode,
    durationMs,
    ...withValue('identity', maskedIdentity(request)),
    ...(attempts ? { upstreamAttempts: attempts } : {}),
    ...withValue('answerId', facts?.answerId),
  };
}

export function requestLogMessage(fields: Pick<RequestLogFields, 'method' | 'route' | 'status' | 'durationMs'>): string {
  return `${fields.method} ${fields.route ?? '(no route)'} ${fields.status} ${fields.durationMs}ms`;
}

function withValue<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
