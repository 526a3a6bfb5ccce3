import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../upstream/upstream.client';
import { AccessTokenChecker } from './access-token.checker';
import type { CredentialService } from './credential.service';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.sig';
const PERSONAL = '6f1b2c3d-0000-4000-8000-000000000001';
const TEAM = '6f1b2c3d-0000-4000-8000-000000000002';

function checkerAnswering(answer: Partial<UpstreamResponse> | Error): { checker: AccessTokenChecker; sent: UpstreamRequest[] } {
  const sent: UpstreamRequest[] = [];
  const upstream = {
    pickBaseUrl: () => 'https://chatgpt.example/',
    accountIdentity: (account: { accessToken: string; chatgptAccountId?: string }) => ({ ...account, fingerprint: {} }),
    request: (request: UpstreamRequest) => {
      sent.push(request);
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve({ status: 200, headers: {}, body: Buffer.alloc(0), ...answer });
    },
  } as unknown as UpstreamClient;
  const credentials = {
    accessTokenAccount: (accessToken: string, chatgptAccountId?: string) => ({ accessToken, chatgptAccountId, fingerprintKey: 'key' }),
  } as unknown as CredentialService;
  return { checker: new AccessTokenChecker(upstream, credentials), sent };
}

const accounts = (ids: string[]) =>
  Buffer.from(JSON.stringify({ accounts: Object.fromEntries(ids.map((id) => [id, { account: { account_id: id } }])) }));

describe('AccessTokenChecker', () => {
  it('asks accounts/check as the account, in the workspace asked for', async () => {
    const { checker, sent } = checkerAnswering({ body: accounts([PERSONAL, TEAM]) });
    expect(await checker.check(TOKEN, TEAM)).toBe('accepted');
    expect(sent[0].url).toBe('https://chatgpt.example/backend-api/accounts/check/v4-2023-04-27');
    expect(sent[0].identity).toMatchObject({ accessToken: TOKEN, chatgptAccountId: TEAM });
  });

  it.each([401, 403])('calls a token refused with %i refused', async (status) => {
    expect(await checkerAnswering({ status, body: Buffer.from('{"detail":"nope"}') }).checker.check(TOKEN, undefined)).toBe('refused');
  });

  it('refuses a workspace that is not one of the token’s accounts', async () => {
    const { checker } = checkerAnswering({ body: accounts([PERSONAL]) });
    expect(await checker.check(TOKEN, TEAM)).toBe('unknownWorkspace');
    expect(await checker.check(TOKEN, undefined)).toBe('accepted');
  });

  it.each([
    ['unreachable', new Error('connect ECONNREFUSED')],
    ['a Cloudflare challenge', { status: 403, headers: { 'cf-mitigated': 'challenge' }, body: Buffer.from('<html>') }],
    ['a server error', { status: 502, body: Buffer.from('bad gateway') }],
  ] as const)('gives no verdict when the upstream is %s', async (_name, answer) => {
    expect(await checkerAnswering(answer).checker.check(TOKEN, undefined)).toBe('unchecked');
  });

  it('gives no verdict on a workspace when the account list cannot be read', async () => {
    expect(await checkerAnswering({ body: Buffer.from('not json') }).checker.check(TOKEN, TEAM)).toBe('unchecked');
  });
});
