import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountIdFor } from '../../src/token-pool/account-record';
import type { AccountRecord } from '../../src/token-pool/pool.types';
import { http, HttpAnswer, ServerProcess, startServer, stopAllServers } from '../support/process';

/**
 * The file store under `kill -9` (gateway.md §8.1 "Ours", S23), 20 times at random moments while admin uploads
 * run in a loop: every data file stays whole, every batch is either fully stored or not at all, the account count
 * never goes down, and a restart reads exactly what the files hold (never a half-written temp file).
 */
const ADMIN_KEY = 'crash-admin-key';
const BATCH_SIZE = 1_000;
const KILLS = 20;
const STORE_FILES = ['accounts.json', 'seeds.json', 'meta.json'];
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
const FAR_FUTURE_EXP = Math.floor(Date.UTC(2099, 0, 1) / 1000);

/** When, after the cycle's first batch has been stored, the process gets SIGKILL. */
type KillMoment =
  | { kind: 'random delay'; maxMs: number }
  | { kind: 'temp file appears'; extraMaxMs: number }
  | { kind: 'random delay, batches in parallel'; maxMs: number };

/** Twenty kills, the three kinds of moment in turn: random, right as a write starts, a little into a write. */
const CYCLES: KillMoment[] = Array.from({ length: KILLS }, (_, index): KillMoment => {
  switch (index % 4) {
    case 0:
      return { kind: 'random delay', maxMs: 400 };
    case 1:
      return { kind: 'temp file appears', extraMaxMs: 0 };
    case 2:
      return { kind: 'temp file appears', extraMaxMs: 60 };
    default:
      return { kind: 'random delay, batches in parallel', maxMs: 500 };
  }
});

describe('file store crash safety (kill -9 during uploads through the admin API)', () => {
  const runId = randomBytes(4).toString('hex');
  let dataDir: string;
  /** Every token ever sent, with the batch it belongs to. */
  const batchOf = new Map<string, string>();
  const batches = new Map<string, string[]>();
  /** Batches whose upload answered 200: they must be on disk whatever happens next. */
  const acknowledged = new Set<string>();

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'flowgpt-crash-'));
  });
  afterAll(async () => {
    await stopAllServers();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    startServer({
      DATA_DIR: dataDir,
      ADMIN_KEY,
      LOG_LEVEL: 'warn',
      // Nothing here may reach the network.
      CHATGPT_BASE_URL: 'http://127.0.0.1:9',
      AUTH_BASE_URL: 'http://127.0.0.1:9',
    });

  const makeBatch = (name: string): string[] => {
    const tokens = Array.from({ length: BATCH_SIZE }, (_, i) => {
      const payload = Buffer.from(JSON.stringify({ exp: FAR_FUTURE_EXP, jti: `${runId}-${name}-${i}` })).toString('base64url');
      return `${JWT_HEADER}.${payload}.${randomBytes(12).toString('base64url')}`;
    });
    batches.set(name, tokens);
    for (const token of tokens) batchOf.set(token, name);
    return tokens;
  };

  const upload = async (server: ServerProcess, name: string): Promise<HttpAnswer> => {
    const answer = await http('POST', `${server.url}/admin/api/tokens`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      json: { tokens: makeBatch(name) },
    });
    if (answer.status === 200) acknowledged.add(name);
    return answer;
  };

  const tempFiles = () => readdirSync(dataDir).filter((name) => name.endsWith('.tmp'));

  /** Reads the store's files as a fresh process would, checking that each is whole; returns the accounts. */
  const verifyFiles = (): AccountRecord[] => {
    for (const name of STORE_FILES) {
      const path = join(dataDir, name);
      if (!existsSync(path)) continue;
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { version: number };
      expect(parsed.version).toBe(1);
    }
    const { accounts } = JSON.parse(readFileSync(join(dataDir, 'accounts.json'), 'utf8')) as { accounts: AccountRecord[] };
    // Checked without one expect() per account: there are tens of thousands.
    const problems: string[] = [];
    const present = new Map<string, number>();
    const ids = new Set<string>();
    for (const account of accounts) {
      const batch = batchOf.get(account.token);
      if (!batch) {
        problems.push(`a token that was never uploaded (torn or mixed up): ${String(account.token).slice(0, 60)}…`);
        continue;
      }
      if (account.kind !== 'access_token' || account.accessToken !== account.token || account.id !== accountIdFor(account.token)) {
        problems.push(`a damaged record: ${JSON.stringify(account).slice(0, 200)}`);
      }
      if (ids.has(account.id)) problems.push(`account ${account.id} twice`);
      ids.add(account.id);
      present.set(batch, (present.get(batch) ?? 0) + 1);
    }
    // One upload is one write: a batch is on disk entirely or not at all.
    for (const [batch, count] of present)
      if (count !== BATCH_SIZE) problems.push(`batch ${batch}: ${count} of ${BATCH_SIZE} accounts stored`);
    for (const batch of acknowledged) if (!present.has(batch)) problems.push(`batch ${batch} was acknowledged but is missing`);
    expect(problems).toEqual([]);
    return accounts;
  };

  const countThroughApi = async (server: ServerProcess): Promise<number> => {
    const answer = await http('GET', `${server.url}/admin/api/tokens`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(answer.status).toBe(200);
    return (answer.json as { counts: { total: number } }).counts.total;
  };

  /** Sends SIGKILL at the moment `moment` describes; resolves once the process is gone. */
  const killAt = async (server: ServerProcess, moment: KillMoment): Promise<string> => {
    if (moment.kind === 'temp file appears') {
      const deadline = Date.now() + 20_000;
      while (tempFiles().length === 0) {
        if (Date.now() > deadline) throw new Error('No write of accounts.json started');
        await new Promise((resolve) => setImmediate(resolve));
      }
      const extra = moment.extraMaxMs > 0 ? randomInt(moment.extraMaxMs) : 0;
      if (extra > 0) await new Promise((resolve) => setTimeout(resolve, extra));
      await server.kill('SIGKILL');
      return `${extra} ms after a temp file appeared`;
    }
    const delay = randomInt(moment.maxMs);
    await new Promise((resolve) => setTimeout(resolve, delay));
    await server.kill('SIGKILL');
    return `${delay} ms after the first batch was stored`;
  };

  it('keeps every file whole and every batch atomic across repeated kill -9, and a restart reads exactly the files', async () => {
    let expectedCount = 0;
    const log: string[] = [];
    for (const [index, moment] of CYCLES.entries()) {
      const server = await start();
      // The previous crash's leftovers are gone, and the API reports what the files hold.
      expect(tempFiles()).toEqual([]);
      expect(await countThroughApi(server)).toBe(expectedCount);

      const first = await upload(server, `c${index}-b0`);
      expect(first.status).toBe(200);
      expect(first.json).toEqual({ added: BATCH_SIZE, replaced: 0, duplicates: 0, invalid: 0, invalidLines: [] });

      // Uploads in a loop (four loops at once for the parallel kind) until the kill cuts them off.
      const uploadLoop = async (loop: number): Promise<PromiseSettledResult<HttpAnswer>[]> => {
        const results: PromiseSettledResult<HttpAnswer>[] = [];
        for (let n = 1; ; n++) {
          const result = await upload(server, `c${index}-l${loop}-b${n}`).then(
            (value) => ({ status: 'fulfilled' as const, value }),
            (reason: unknown) => ({ status: 'rejected' as const, reason }),
          );
          results.push(result);
          if (result.status === 'rejected' || result.value.status !== 200) return results;
        }
      };
      const loops = moment.kind === 'random delay, batches in parallel' ? [1, 2, 3, 4] : [1];
      const inFlight = Promise.all(loops.map(uploadLoop)).then((perLoop) => perLoop.flat());
      const when = await killAt(server, moment);
      const results = await inFlight;
      // The kill happened while an upload was under way: at least one request never got its answer.
      expect({ when, unanswered: results.some((result) => result.status === 'rejected') }).toEqual({ when, unanswered: true });
      for (const result of results) if (result.status === 'fulfilled') expect(result.value.status).toBe(200);

      const accounts = verifyFiles();
      // Acknowledged batches stay, so the count never goes down from one crash to the next.
      expect(accounts.length).toBeGreaterThanOrEqual(expectedCount);
      expectedCount = accounts.length;
      log.push(`kill ${index + 1}/${CYCLES.length}: ${when}; ${accounts.length} accounts on disk`);
    }
    console.log(log.join('\n'));

    const server = await start();
    expect(tempFiles()).toEqual([]);
    expect(await countThroughApi(server)).toBe(expectedCount);
    // The restarted process writes on top of the recovered files normally.
    expect((await upload(server, 'final')).status).toBe(200);
    expect(verifyFiles()).toHaveLength(expectedCount + BATCH_SIZE);
    await server.kill('SIGTERM');
  }, 1_200_000);
});
