import request from 'supertest';
import type { RecordedRequest } from './fake-upstream/fake-upstream';
import { SignedInGatewayStack, startSignedInGateway } from './support/gateway-stack';

jest.setTimeout(120_000);

const POOL_KEY = 'pool-key-account-browser';

/** The `name=value` pairs of a Cookie header, or of Set-Cookie lines. */
const pairsOf = (cookies: string | string[] | undefined): string[] =>
  (Array.isArray(cookies) ? cookies.map((line) => line.split(';')[0]) : (cookies?.split('; ') ?? [])).filter(Boolean);

/** Each account looks like one browser to the upstream, whichever of its credentials the API key is (upstream-protocol.md §2). */
describe('One browser per account', () => {
  let stack: SignedInGatewayStack;

  beforeAll(async () => {
    stack = await startSignedInGateway({ env: { AUTHORIZATION: POOL_KEY } });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  /** One chat as `apiKey` through the API; the client's answer. */
  async function chat(apiKey: string): Promise<request.Response> {
    stack.fake.enqueue({ kind: 'text', text: 'Hi.' });
    return request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${apiKey}`)
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })
      .expect(200);
  }

  /** The device id and user agent the conversation POST of one chat as `apiKey` carried. */
  async function browserOf(apiKey: string): Promise<{ deviceId: unknown; userAgent: unknown }> {
    await chat(apiKey);
    const sent = stack.fake.conversationRequests().at(-1)!;
    return { deviceId: sent.headers['oai-device-id'], userAgent: sent.headers['user-agent'] };
  }

  it('keeps the device id of an account across its AccessTokens and RefreshTokens, and tells accounts apart', async () => {
    const alice = { userId: 'user-alice', accountId: 'acct-alice', email: 'alice@example.com' };
    const first = await browserOf(stack.fake.createAccessToken(alice));
    expect(first.deviceId).toMatch(/^[0-9a-f-]{36}$/);
    // A new AccessToken of the same account (the old one expired, or the user signed in again).
    expect(await browserOf(stack.fake.createAccessToken(alice))).toEqual(first);
    // A RefreshToken of the account, whose value the auth server replaces on every exchange.
    expect(await browserOf(stack.fake.createRefreshToken({ rotate: true, account: alice }))).toEqual(first);

    const bob = await browserOf(stack.fake.createAccessToken({ userId: 'user-bob', accountId: 'acct-bob' }));
    expect(bob.deviceId).not.toBe(first.deviceId);
  });

  describe('cookies the upstream sets (gateway-live-ui.md §4.6)', () => {
    /** The calls of each chat as this AccessToken, each chat's starting with its sentinel `prepare`. */
    const chatsOf = (accessToken: string): RecordedRequest[][] =>
      stack.fake.requests
        .filter((call) => call.headers.authorization === `Bearer ${accessToken}`)
        .reduce<RecordedRequest[][]>((chats, call) => {
          if (call.path.endsWith('/chat-requirements/prepare')) chats.push([]);
          chats.at(-1)?.push(call);
          return chats;
        }, []);

    it("go back on the account's later calls, the conversation's included, and never to the client", async () => {
      const token = stack.fake.createAccessToken();
      const answer = await chat(token);
      expect(answer.headers['set-cookie']).toBeUndefined();
      await chat(token);
      const [[prepare, ...rest], [nextPrepare, ...nextRest]] = chatsOf(token);
      expect(prepare.headers.cookie).toBeUndefined();
      const set = pairsOf(prepare.setCookie);
      expect(set.map((pair) => pair.split('=')[0])).toEqual(['__cf_bm', 'oai-sc']);
      expect(rest.map((call) => call.path)).toContain('/backend-api/f/conversation');
      for (const call of rest) expect(pairsOf(call.headers.cookie)).toEqual(set);

      // The next chat starts with them, and its own sentinel answer replaces them.
      expect(pairsOf(nextPrepare.headers.cookie)).toEqual(set);
      const replaced = pairsOf(nextPrepare.setCookie);
      expect(replaced).not.toEqual(set);
      for (const call of nextRest) expect(pairsOf(call.headers.cookie)).toEqual(replaced);

      // Another account's calls carry none of them.
      const other = stack.fake.createAccessToken();
      await chat(other);
      expect(chatsOf(other)[0][0].headers.cookie).toBeUndefined();
    });

    it("go back on the browser gateway's calls as the same pool account too, and never to the browser", async () => {
      await stack.upload([stack.fake.createAccessToken({ email: 'pool@example.com' })]);
      await chat(POOL_KEY);
      const conversation = stack.fake.conversationRequests().at(-1)!;
      const set = pairsOf(conversation.headers.cookie);
      expect(set.map((pair) => pair.split('=')[0])).toEqual(['__cf_bm', 'oai-sc']);

      // The same account is one browser upstream, whoever drives it: the seed's calls carry the account's cookies,
      // and none of the seed browser's own.
      const browser = await stack.signIn('seed-account-browser-cookies');
      const models = await request(stack.url)
        .get('/backend-api/models')
        .set(browser.bearer)
        .set('cookie', 'oai-sc=the-browsers-own')
        .expect(200);
      const proxied = stack.fake.requests.at(-1)!;
      expect(proxied.path).toBe('/backend-api/models');
      expect(proxied.headers['oai-device-id']).toBe(conversation.headers['oai-device-id']);
      expect(pairsOf(proxied.headers.cookie)).toEqual(set);
      expect(models.headers['set-cookie']).toBeUndefined();
    });
  });
});
