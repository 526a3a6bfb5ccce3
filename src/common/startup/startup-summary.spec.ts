import { resolve } from 'node:path';
import { startupSummary, type StartupFacts } from './startup-summary';

const facts = (overrides: Partial<StartupFacts> = {}): StartupFacts => ({
  port: 5005,
  apiPrefixed: false,
  adminEnabled: false,
  accounts: 0,
  redisPrefix: 'flowgpt:',
  dataDir: './data',
  poolKeys: 0,
  upstreams: ['https://chatgpt.com'],
  gatewayEnabled: false,
  ...overrides,
});

describe('startupSummary', () => {
  it('names the URL, the file store path, the counts, and warns when nothing is configured', () => {
    const { lines, warnings } = startupSummary(facts());
    expect(lines).toEqual([
      'Listening on http://localhost:5005: OpenAI base URL http://localhost:5005/v1',
      `Pool: 0 accounts loaded from the file store at ${resolve('./data')}`,
      'Pool keys (AUTHORIZATION): none set',
      'Upstream: https://chatgpt.com',
    ]);
    expect(warnings).toEqual([
      'Nothing is configured yet (no pool keys, no accounts): send an AccessToken as the API key, or set ADMIN_KEY and add accounts at /admin',
    ]);
  });

  it('shows the admin URL, hides the API prefix and the Redis password', () => {
    const { lines, warnings } = startupSummary(
      facts({
        port: 8080,
        apiPrefixed: true,
        adminEnabled: true,
        accounts: 1,
        poolKeys: 2,
        redisUrl: 'redis://:hunter2secret@cache.internal:6380/1',
        upstreams: ['https://relay:hunter2relay@relay.internal/api', 'https://chatgpt.com'],
      }),
    );
    expect(lines[0]).toBe(
      'Listening on http://localhost:8080: OpenAI base URL http://localhost:8080/<API_PREFIX>/v1, admin at http://localhost:8080/admin',
    );
    expect(lines[1]).toBe('Pool: 1 account loaded from Redis redis://***@cache.internal:6380/1 (key prefix flowgpt:)');
    expect(lines[2]).toBe('Pool keys (AUTHORIZATION): 2 set');
    expect(lines[3]).toBe('Upstream: https://***@relay.internal/api, https://chatgpt.com');
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(warnings).toEqual([]);
  });

  it('shows where a browser signs in and the admin, on localhost without PUBLIC_URL', () => {
    const { lines } = startupSummary(facts({ adminEnabled: true, gatewayEnabled: true }));
    expect(lines[0]).toBe(
      'Listening on http://localhost:5005: OpenAI base URL http://localhost:5005/v1, admin at http://localhost:5005/admin',
    );
    expect(lines[1]).toBe('Browser sign-in at http://localhost:5005/auth/login');
  });

  it('names no sign-in page without ENABLE_GATEWAY, which has none', () => {
    expect(startupSummary(facts({ adminEnabled: true })).lines.join('\n')).not.toContain('sign-in');
  });

  it("gives the URLs people open on PUBLIC_URL's origin, and never the API prefix", () => {
    const { lines, warnings } = startupSummary(
      facts({ port: 8080, apiPrefixed: true, adminEnabled: true, gatewayEnabled: true, publicUrl: 'https://chat.example.com' }),
    );
    expect(lines[0]).toBe(
      'Listening on http://localhost:8080 (public URL https://chat.example.com): OpenAI base URL https://chat.example.com/<API_PREFIX>/v1, admin at https://chat.example.com/admin',
    );
    expect(lines[1]).toBe('Browser sign-in at https://chat.example.com/auth/login');
    expect(warnings[0]).toContain('add accounts at https://chat.example.com/admin');
  });

  it('points at the admin page in the warning when the admin is on', () => {
    expect(startupSummary(facts({ adminEnabled: true })).warnings[0]).toContain('add accounts at http://localhost:5005/admin');
    expect(startupSummary(facts({ poolKeys: 1 })).warnings).toEqual([]);
    expect(startupSummary(facts({ accounts: 3 })).warnings).toEqual([]);
  });
});
