import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { ChromiumClearanceSolver } from '../src/upstream/chromium-clearance.solver';
import { FakeClock } from '../src/token-pool/testing/fake-clock';
import { CloudflareClearance, FRESH_CLEARANCE_MS } from '../src/upstream/cloudflare-clearance.service';
import { UpstreamClient } from '../src/upstream/upstream.client';
import { Stack, startStack } from './support/stack';

const CHROMIUM = '/usr/bin/chromium';
/** An executable that is no browser: the start accepts it (a missing file stops the start), every launch fails. */
const NOT_CHROMIUM = '/bin/false';
// One user agent for every account: all of them share one route (proxy + host + user agent), hence one clearance.
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const OTHER_USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const ANSWER = 'Hello! How can I help you today?';

jest.setTimeout(180_000);

const ask = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user' as const, content }] });
// A solve launches Chromium: give the client more time than the stack's default.
const clientOf = (stack: Stack, apiKey: string) => new OpenAI({ apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 120_000 });

async function failureOf(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const caught = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(OpenAI.APIError);
  return caught as InstanceType<typeof OpenAI.APIError>;
}

/** Chromium processes started by this test process (playwright launches them as its children). */
function chromiumChildren(): string[] {
  const table = execFileSync('ps', ['-eo', 'ppid=,pid=,comm='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([ppid, , comm]) => Number(ppid) === process.pid && /chrom/i.test(comm ?? ''))
    .map(([, pid]) => pid);
}

describe('Cloudflare clearance with the Chromium helper (CF_CLEARANCE=chromium)', () => {
  let stack: Stack;
  let token: string;
  let clearance: CloudflareClearance;
  let solver: ChromiumClearanceSolver;
  // The app's clock, moved past FRESH_CLEARANCE_MS before a clearance is refused on purpose (a rotation, an expiry):
  // a refusal that soon after the solve would cool the route down instead of solving again.
  const clock = new FakeClock(Date.now());

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    stack = await startStack({
      env: {
        CF_CLEARANCE: 'chromium',
        CHROMIUM_PATH: CHROMIUM,
        CF_CLEARANCE_TIMEOUT_MS: '90000',
        USER_AGENTS: JSON.stringify([USER_AGENT]),
      },
      clock,
    });
    token = stack.fake.createAccessToken();
    clearance = stack.app.get(CloudflareClearance);
    solver = stack.app.get(ChromiumClearanceSolver);
  });
  afterAll(() => stack?.close());

  it('passes a challenge in Chromium, sends the cookies it earned, and reuses them without another solve', async () => {
    stack.fake.cloudflare.challenge();
    const completion = await clientOf(stack, token).chat.completions.create(ask('behind cloudflare'));
    expect(completion.choices[0].message.content).toBe(ANSWER);

    expect(stack.fake.cloudflare.refusals[0]).toBe('missing');
    expect(stack.fake.cloudflare.clearances).toBe(1);
    expect(clearance.solves).toBe(1);
    const sent = String(stack.fake.conversationRequests().at(-1)?.headers.cookie);
    expect(sent).toMatch(/(^|; )cf_clearance=[0-9a-f]+\.\d+\.[0-9a-f]{8}(;|$)/);
    expect(sent).toMatch(/(^|; )__cf_bm=/);
    expect(solver.openBrowsers).toBe(0);
    expect(chromiumChildren()).toEqual([]);

    // A second request, streamed this time, rides on the same clearance: no challenge page, no browser.
    const pagesBefore = stack.fake.cloudflare.pagesServed;
    const stream = await clientOf(stack, token).chat.completions.create({ ...ask('again'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(ANSWER);
    expect(stack.fake.cloudflare.pagesServed).toBe(pagesBefore);
    expect(stack.fake.cloudflare.clearances).toBe(1);
    expect(clearance.solves).toBe(1);
  });

  it('earns a cookie a plain HTTP client cannot get, bound to the user agent that earned it', async () => {
    stack.fake.cloudflare.challenge();
    const cookie = String(stack.fake.conversationRequests().at(-1)?.headers.cookie);
    const home = (userAgent: string, withCookie: boolean) =>
      fetch(`${stack.fake.url}/`, { headers: { 'user-agent': userAgent, ...(withCookie ? { cookie } : {}) } });

    const plain = await home(USER_AGENT, false);
    expect(plain.status).toBe(403);
    expect(plain.headers.get('cf-mitigated')).toBe('challenge');
    expect(await plain.text()).toContain('_cf_chl_opt');

    expect((await home(USER_AGENT, true)).status).toBe(200);
    const replayed = await home(OTHER_USER_AGENT, true);
    expect(replayed.status).toBe(403);
    expect(stack.fake.cloudflare.refusals.at(-1)).toBe('wrong_user_agent');
  });

  it('solves once for concurrent challenged requests on the same route', async () => {
    // A fresh Cloudflare that knows none of the clearances issued so far: ours is refused, as after a rotation.
    stack.fake.reset();
    stack.fake.cloudflare.challenge();
    clock.advance(FRESH_CLEARANCE_MS + 1_000);
    const solvesBefore = clearance.solves;
    const challengedBefore = clearance.challenged;
    const tokens = [token, stack.fake.createAccessToken(), stack.fake.createAccessToken()];
    const answers = await Promise.all(tokens.map((key, i) => clientOf(stack, key).chat.completions.create(ask(`together ${i}`))));
    expect(answers.map((answer) => answer.choices[0].message.content)).toEqual([ANSWER, ANSWER, ANSWER]);
    expect(stack.fake.cloudflare.refusals).toContain('unknown');
    expect(clearance.challenged - challengedBefore).toBeGreaterThanOrEqual(2);
    expect(clearance.solves - solvesBefore).toBe(1);
    expect(stack.fake.cloudflare.clearances).toBe(1);
    expect(solver.openBrowsers).toBe(0);
  });

  it('solves again when the clearance has expired', async () => {
    stack.fake.cloudflare.challenge({ ttlSec: 3600 });
    const solvesBefore = clearance.solves;
    const clearancesBefore = stack.fake.cloudflare.clearances;
    stack.fake.cloudflare.advanceClock(2 * 3_600_000);
    clock.advance(FRESH_CLEARANCE_MS + 1_000);

    const completion = await clientOf(stack, token).chat.completions.create(ask('later'));
    expect(completion.choices[0].message.content).toBe(ANSWER);
    expect(stack.fake.cloudflare.refusals).toContain('expired');
    expect(clearance.solves - solvesBefore).toBe(1);
    expect(stack.fake.cloudflare.clearances - clearancesBefore).toBe(1);
  });
});

describe('Cloudflare clearance that cannot be obtained', () => {
  it('answers cf_challenge without the helper, as before', async () => {
    const stack = await startStack();
    try {
      stack.fake.cloudflare.challenge();
      const failure = await failureOf(clientOf(stack, stack.fake.createAccessToken()).chat.completions.create(ask('no helper')));
      expect(failure.status).toBe(403);
      expect(failure.error).toMatchObject({ type: 'upstream_error', code: 'cf_challenge', param: null });
      expect(failure.message).not.toContain('could not pass');
      expect(stack.fake.cloudflare.clearances).toBe(0);
      expect(stack.fake.cloudflare.passed).toBe(0);
    } finally {
      await stack.close();
    }
  });

  it('fails clearly when Chromium gets no clearance in CF_CLEARANCE_TIMEOUT_MS, and leaves no browser behind', async () => {
    const stack = await startStack({
      env: { CF_CLEARANCE: 'chromium', CHROMIUM_PATH: CHROMIUM, CF_CLEARANCE_TIMEOUT_MS: '5000', RETRY_TIMES: '0' },
    });
    try {
      stack.fake.cloudflare.challenge({ solvable: false });
      const failure = await failureOf(clientOf(stack, stack.fake.createAccessToken()).chat.completions.create(ask('interactive')));
      expect(failure.status).toBe(403);
      expect(failure.error).toMatchObject({ type: 'upstream_error', code: 'cf_challenge' });
      expect(failure.message).toContain('the Chromium clearance helper could not pass it');
      expect(stack.app.get(ChromiumClearanceSolver).openBrowsers).toBe(0);
      expect(chromiumChildren()).toEqual([]);
    } finally {
      await stack.close();
    }
  });

  it('says so when Chromium does not start from CHROMIUM_PATH', async () => {
    const stack = await startStack({ env: { CF_CLEARANCE: 'chromium', CHROMIUM_PATH: NOT_CHROMIUM, RETRY_TIMES: '0' } });
    try {
      stack.fake.cloudflare.challenge();
      const failure = await failureOf(clientOf(stack, stack.fake.createAccessToken()).chat.completions.create(ask('no browser')));
      expect(failure.error).toMatchObject({ code: 'cf_challenge' });
      expect(failure.message).toContain(`Chromium did not start from ${NOT_CHROMIUM}`);
    } finally {
      await stack.close();
    }
  });

  // Retried on the same account (same route), each attempt used to launch Chromium again and wait for it: RETRY_TIMES + 1
  // solves and up to (RETRY_TIMES + 1) × CF_CLEARANCE_TIMEOUT_MS before the 403, and the same for every later request.
  it('starts at most one solve of a route for a request and the ones after it, while the failure cools down', async () => {
    const stack = await startStack({
      env: {
        CF_CLEARANCE: 'chromium',
        CHROMIUM_PATH: NOT_CHROMIUM,
        RETRY_TIMES: '3',
        // One user agent: the home-page read and the account share one route.
        USER_AGENTS: JSON.stringify([USER_AGENT]),
        UPSTREAM_FLOW: 'classic',
      },
    });
    try {
      stack.fake.cloudflare.challenge();
      const clearance = stack.app.get(CloudflareClearance);
      const client = clientOf(stack, stack.fake.createAccessToken());
      for (const content of ['first', 'second']) {
        const failure = await failureOf(client.chat.completions.create(ask(content)));
        expect(failure.error).toMatchObject({ code: 'cf_challenge' });
        expect(failure.message).toContain(`Chromium did not start from ${NOT_CHROMIUM}`);
      }
      expect(clearance.solves).toBe(1);
    } finally {
      await stack.close();
    }
  });

  // The host is drawn per attempt from CHATGPT_BASE_URL (the sentinel proxy per turn from SENTINEL_PROXY_URL): an own
  // token's next attempt may leave by another route, where the challenge is not.
  it('retries a challenged own token on the next attempt, which may use another CHATGPT_BASE_URL host', async () => {
    // A relay host behind which Cloudflare challenges everything.
    const challenging = http.createServer((_request, response) => {
      response.writeHead(403, { 'content-type': 'text/html; charset=UTF-8', 'cf-mitigated': 'challenge' });
      response.end('<html><script>window._cf_chl_opt={cvId: "3"};</script></html>');
    });
    await new Promise<void>((resolve) => challenging.listen(0, '127.0.0.1', resolve));
    const challengingUrl = `http://127.0.0.1:${(challenging.address() as AddressInfo).port}`;
    const stack = await startStack({ env: { UPSTREAM_FLOW: 'classic' } });
    try {
      const upstream = stack.app.get(UpstreamClient);
      // Deterministic draw: the challenging host first, the good one after.
      const picks = [challengingUrl, stack.fake.url];
      jest.spyOn(upstream, 'pickBaseUrl').mockImplementation(() => picks.shift() ?? stack.fake.url);
      const completion = await clientOf(stack, stack.fake.createAccessToken()).chat.completions.create(ask('another host'));
      expect(completion.choices[0].message.content).toBeTruthy();
    } finally {
      await stack.close();
      await new Promise((resolve) => challenging.close(resolve));
    }
  });

  // Chromium passes, but Cloudflare refuses its cookie to Node (bound to the browser's TLS fingerprint): without the
  // cool-down every challenged call would launch Chromium again, for up to CF_CLEARANCE_TIMEOUT_MS each.
  it('does not solve again for every later request when the clearance is refused as soon as it is earned', async () => {
    const stack = await startStack({
      env: {
        CF_CLEARANCE: 'chromium',
        CHROMIUM_PATH: NOT_CHROMIUM,
        USER_AGENTS: JSON.stringify([USER_AGENT]),
        UPSTREAM_FLOW: 'classic',
      },
    });
    try {
      jest
        .spyOn(stack.app.get(ChromiumClearanceSolver), 'solve')
        .mockImplementation(() =>
          Promise.resolve([{ name: 'cf_clearance', value: `browser-only-${Math.random()}`, expiresAt: Date.now() + 3_600_000 }]),
        );
      stack.fake.cloudflare.challenge();
      const clearance = stack.app.get(CloudflareClearance);
      const client = clientOf(stack, stack.fake.createAccessToken());
      for (const content of ['first', 'second', 'third']) {
        const failure = await failureOf(client.chat.completions.create(ask(content)));
        expect(failure.error).toMatchObject({ code: 'cf_challenge' });
      }
      expect(clearance.solves).toBe(1);
    } finally {
      await stack.close();
    }
  });
});
