import { OwnRedis } from './support/own-redis';
import { freePort, http } from './support/process';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const API_PREFIX = 'own-token-prefix';

// A chat made with the caller's own AccessToken needs no pool: the send-flow memory and the model caps kept in Redis only
// spare upstream calls, so while Redis is down such a chat goes on with their defaults. With API_PREFIX, the prefix's
// guess throttle counts in this process meanwhile: the prefix still admits, and guessing is still limited.
describe('own-token chats while Redis is down (REDIS_URL)', () => {
  let redis: OwnRedis;
  let stack: Stack;

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    stack = await startStack({
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'own-token-outage:',
        REDIS_COMMAND_TIMEOUT_MS: '1000',
        API_PREFIX,
        UPSTREAM_FLOW: 'auto',
        ENABLE_LIMIT: 'true',
      },
    });
  });
  afterAll(async () => {
    await redis?.remove();
    await stack?.close();
  });

  const chat = (prefix: string, token: string) =>
    http('POST', `${stack.url}/${prefix}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${token}` },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello?' }] },
      timeoutMs: 60_000,
    });

  it('answers 200 to an own AccessToken, and still locks a network out after 20 wrong prefixes', async () => {
    const token = stack.fake.createAccessToken();
    expect((await chat(API_PREFIX, token)).status).toBe(200);

    await redis.kill();

    const during = await chat(API_PREFIX, token);
    expect({ status: during.status, body: during.status === 200 ? undefined : during.json }).toEqual({ status: 200, body: undefined });

    const wrong: number[] = [];
    for (let guess = 0; guess < 20; guess++) wrong.push((await chat(`wrong-prefix-${guess}`, token)).status);
    expect(wrong).toEqual(Array.from({ length: 20 }, () => 404));
    const locked = await chat('wrong-prefix-20', token);
    expect(locked.status).toBe(429);
    expect((locked.json as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    // Locked out, the right prefix gets the same answer: a guesser cannot tell it found it.
    expect((await chat(API_PREFIX, token)).status).toBe(429);
  });
});
