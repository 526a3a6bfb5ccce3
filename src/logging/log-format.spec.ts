import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { formatTextLine, logDestination, pinoOptions } from './log-format';
import { maskedIdentity, requestLogFields } from './request-log';

describe('log format', () => {
  const capture = (format: 'json' | 'text') => {
    const lines: string[] = [];
    const logger = pino(pinoOptions('log'), logDestination(format, { write: (text: string) => lines.push(text) }));
    return { logger, lines };
  };

  it('writes one JSON object per line with a string level and an ISO time', () => {
    const { logger, lines } = capture('json');
    logger.info({ context: 'Chat', route: '/v1/models' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      context: 'Chat',
      route: '/v1/models',
      msg: 'hello',
    });
  });

  it('writes readable single lines in the text format, without repeating what a request message says', () => {
    const { logger, lines } = capture('text');
    logger.warn({ context: 'Pool' }, 'account refused');
    logger.info(
      { method: 'GET', route: '/v1/models', status: 200, durationMs: 12, identity: 'eyJhbG…1234', reqId: 3 },
      'GET /v1/models 200 12ms',
    );
    expect(lines[0]).toMatch(/^\S+Z WARN {2}\[Pool\] account refused\n$/);
    expect(lines[1]).toMatch(/^\S+Z INFO {2}GET \/v1\/models 200 12ms identity=eyJhbG…1234 reqId=3\n$/);
  });

  it('honours LOG_LEVEL: debug lines are dropped at `log`, kept at `debug`', () => {
    const { logger, lines } = capture('text');
    logger.debug('hidden');
    expect(lines).toHaveLength(0);
    const verbose = pino(pinoOptions('debug'), logDestination('text', { write: (text: string) => lines.push(text) }));
    verbose.debug('shown');
    expect(lines).toHaveLength(1);
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatTextLine('plain')).toBe('plain\n');
  });
});

describe('request log fields', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.payload-that-is-long.signature-xyz9';
  const request = (authorization?: string) =>
    ({
      method: 'POST',
      headers: authorization ? { authorization } : {},
      route: { path: '/v1/chat/completions' },
    }) as unknown as IncomingMessage;

  it('reports the route pattern, status, duration and the masked bearer, never the token', () => {
    const fields = requestLogFields(request(`Bearer ${token}`), { statusCode: 200 } as ServerResponse, 42);
    expect(fields).toEqual({ method: 'POST', route: '/v1/chat/completions', status: 200, durationMs: 42, identity: 'eyJhbG…xyz9' });
    expect(JSON.stringify(fields)).not.toContain(token);
  });

  it('has no identity without a bearer', () => {
    expect(maskedIdentity(request())).toBeUndefined();
    expect(maskedIdentity(request('Basic abc'))).toBeUndefined();
  });
});
