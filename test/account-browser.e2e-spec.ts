import { Stack, startStack } from './support/stack';

/** Each account looks like one browser to the upstream, whichever of its credentials the API key is (upstream-protocol.md §2.2). */
describe('One browser per account', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { UPSTREAM_FLOW: 'classic' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  /** The device id and user agent the conversation POST of one chat as `apiKey` carried. */
  async function browserOf(apiKey: string): Promise<{ deviceId: unknown; userAgent: unknown }> {
    stack.fake.enqueue({ kind: 'text', text: 'Hi.' });
    await stack.openai(apiKey).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
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
});
