import { type ArgumentsHost, Logger } from '@nestjs/common';
import { StoreUnavailableError } from '../errors/store-unavailable.error';
import { OpenAIExceptionFilter } from './openai-exception.filter';

/** A request to a path that is itself a secret (the admin entry when API_PREFIX is the admin key), and its answer. */
function exchange() {
  const request = { method: 'GET', path: '/the-admin-secret-itself', url: '/the-admin-secret-itself', route: { path: '/:entry' } };
  const answer = { status: 0, body: undefined as unknown, headers: {} as Record<string, string> };
  const response = {
    headersSent: false,
    writableEnded: false,
    setHeader: (name: string, value: string) => (answer.headers[name] = value),
    status(code: number) {
      answer.status = code;
      return this;
    },
    json: (body: unknown) => (answer.body = body),
  };
  const host = { switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }) } as unknown as ArgumentsHost;
  return { host, answer };
}

describe('OpenAIExceptionFilter', () => {
  afterEach(() => jest.restoreAllMocks());

  it('logs the route a failed request matched, never its raw path (a path can be a secret)', () => {
    const lines: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void lines.push(String(line)));
    jest.spyOn(Logger.prototype, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    const filter = new OpenAIExceptionFilter();

    const stalled = exchange();
    filter.catch(new StoreUnavailableError('Redis at redis://cache:6379', new Error('timeout')), stalled.host);
    expect(stalled.answer.status).toBe(503);

    const broken = exchange();
    filter.catch(new Error('something broke'), broken.host);
    expect(broken.answer.status).toBe(500);

    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toContain('GET /:entry');
      expect(line).not.toContain('the-admin-secret-itself');
    }
  });
});
