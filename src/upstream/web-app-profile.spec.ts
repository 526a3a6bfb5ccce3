import { fingerprintFor } from './fingerprint';
import { browserHeaders, newTurn, webAppTurnHeaders } from './web-app-profile';

describe('web app profile', () => {
  const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  const safari = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15';

  it('sends the fingerprint as a browser would: one user agent with its sec-ch-ua family, a stable device id', () => {
    const fingerprint = fingerprintFor('account-1', [chrome], []);
    const headers = browserHeaders({
      baseUrl: 'https://chatgpt.com',
      fingerprint,
      accessToken: 'at',
      chatgptAccountId: 'team-1',
      language: 'en-US',
    });
    expect(headers).toMatchObject({
      'user-agent': chrome,
      'sec-ch-ua': '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
      'sec-ch-ua-mobile': '?0',
      'sec-ch-ua-platform': '"Windows"',
      'oai-language': 'en-US',
      'oai-device-id': fingerprintFor('account-1', [chrome], []).deviceId,
      origin: 'https://chatgpt.com',
      authorization: 'Bearer at',
      'chatgpt-account-id': 'team-1',
    });
    expect(headers['oai-device-id']).not.toBe(fingerprintFor('account-2', [chrome], []).deviceId);
    expect(headers.authkey).toBeUndefined();
  });

  it('sends no client hints for a browser that has none', () => {
    const headers = browserHeaders({
      baseUrl: 'https://chatgpt.com',
      fingerprint: fingerprintFor('a', [safari], []),
      language: 'en-US',
      authKey: 'k',
    });
    expect(headers['sec-ch-ua']).toBeUndefined();
    expect(headers.authkey).toBe('k');
    expect(headers.authorization).toBeUndefined();
  });

  it('gives every call of a turn the release and one trace id, and the conversation calls their target', () => {
    const turn = newTurn({ clientVersion: 'prod-1', clientBuildNumber: '42' }, 1_000);
    expect(webAppTurnHeaders(turn, 1_000)).toEqual({
      'oai-client-version': 'prod-1',
      'oai-client-build-number': '42',
      'x-oai-turn-trace-id': turn.traceId,
    });
    expect(webAppTurnHeaders(turn, 1_250, '/backend-api/f/conversation')).toEqual({
      'oai-client-version': 'prod-1',
      'oai-client-build-number': '42',
      'x-oai-turn-trace-id': turn.traceId,
      'x-openai-target-path': '/backend-api/f/conversation',
      'x-openai-target-route': '/backend-api/f/conversation',
      'oai-echo-logs': '0,250',
    });
    expect(newTurn(turn.release, 0).traceId).not.toBe(turn.traceId);
  });
});
