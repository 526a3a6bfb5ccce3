import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { http, startServer, stopAllServers } from './support/process';

jest.setTimeout(240_000);

/**
 * Review finding: a graceful shutdown (SIGTERM) does not wait for a background refresh (SCHEDULED_REFRESH's start-up
 * or cron run) that is exchanging a rotating RefreshToken. The auth server spends the old value, the process exits
 * before it stores the new one, and the account is dead on the next start.
 */
describe('review: SIGTERM during a scheduled refresh of a rotating RefreshToken', () => {
  let fake: FakeUpstream;
  let dataDir: string;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-review-shutdown-'));
  });
  afterAll(async () => {
    await stopAllServers();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const env = (scheduled: boolean) => ({
    CHATGPT_BASE_URL: fake.url,
    AUTH_BASE_URL: fake.url,
    DATA_DIR: dataDir,
    AUTHORIZATION: 'pool-key',
    SCHEDULED_REFRESH: String(scheduled),
    POW_WORKERS: '1',
    SHUTDOWN_GRACE_MS: '20000',
  });

  it('the server waits for the exchange it has in flight before it exits', async () => {
    const rt = fake.createRefreshToken({ rotate: true });
    // The reference's token.txt, imported on first start; its account has no AccessToken yet, so the start-up refresh exchanges it.
    writeFileSync(join(dataDir, 'token.txt'), `${rt}\n`);
    const hold = fake.holdNextOAuth();
    const first = await startServer(env(true));
    await hold.arrived;
    // A deploy: SIGTERM while the exchange is in flight; the auth server answers a moment later.
    first.child.kill('SIGTERM');
    let exitedWhileExchanging = false;
    void first.exited().then(() => (exitedWhileExchanging = true));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const exitedBeforeTheAnswer = exitedWhileExchanging;
    hold.release();
    await first.exited();
    // The server left with the exchange it had sent unanswered: whatever the auth server answers is lost.
    expect(exitedBeforeTheAnswer).toBe(false);
  });

  it('after the restart, the account still works (its spent RefreshToken was not replaced by the new one)', async () => {
    const second = await startServer(env(false));
    const answer = await http('POST', `${second.url}/v1/chat/completions`, {
      headers: { authorization: 'Bearer pool-key' },
      json: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] },
    });
    expect({ status: answer.status, body: answer.status === 200 ? 'ok' : answer.text }).toEqual({ status: 200, body: 'ok' });
  });
});
