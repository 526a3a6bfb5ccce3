import { UpstreamError } from '../common/errors/upstream-error';
import { Clock } from '../common/vocabulary/clock';
import { AppConfig } from '../config/app-config';
import { ClearanceCookie, ClearanceRoute } from './clearance-jar';
import { ClearanceSolver } from './chromium-clearance.solver';
import { CloudflareClearance, FAILED_SOLVE_COOLDOWN_MS, FRESH_CLEARANCE_MS } from './cloudflare-clearance.service';

const route: ClearanceRoute = { origin: 'https://chatgpt.com', userAgent: 'Mozilla/5.0 Chrome/131.0.0.0' };

/** A solver whose solves the test settles by hand. */
class ManualSolver extends ClearanceSolver {
  readonly pending: { route: ClearanceRoute; resolve: (cookies: ClearanceCookie[]) => void; reject: (error: Error) => void }[] = [];

  solve(solved: ClearanceRoute): Promise<ClearanceCookie[]> {
    return new Promise((resolve, reject) => this.pending.push({ route: solved, resolve, reject }));
  }

  earn(value: string): void {
    this.pending.shift()?.resolve([{ name: 'cf_clearance', value, expiresAt: Date.now() + 3_600_000 }]);
  }

  fail(reason: string): void {
    this.pending.shift()?.reject(new Error(reason));
  }
}

/** A clock that moves only when a test tells it to. */
class ManualClock extends Clock {
  current = Date.UTC(2030, 0, 1);

  now(): number {
    return this.current;
  }
}

let clock: ManualClock;
beforeEach(() => (clock = new ManualClock()));

const settled = () => new Promise((resolve) => setImmediate(resolve));

function clearanceWith(solver: ClearanceSolver, helper: 'off' | 'chromium' = 'chromium'): CloudflareClearance {
  const config = Object.assign(new AppConfig(), { cfClearance: helper, cfClearanceTimeoutMs: 5_000 });
  return new CloudflareClearance(config, solver, clock);
}

describe('CloudflareClearance', () => {
  it('sends nothing and keeps nothing when the helper is off', () => {
    const clearance = clearanceWith(new ManualSolver(), 'off');
    expect(clearance.enabled).toBe(false);
    expect(clearance.cookieHeader(route)).toBeUndefined();
  });

  it('shares one solve between the requests challenged on a route while it runs', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const waiting = [clearance.pass(route, undefined, 'requirements'), clearance.pass(route, undefined, 'conversation')];
    await settled();
    expect(solver.pending).toHaveLength(1);
    solver.earn('c1');
    await Promise.all(waiting);
    expect(clearance.solves).toBe(1);
    expect(clearance.cookieHeader(route)).toBe('cf_clearance=c1');
  });

  it('solves apart per route', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const first = clearance.pass(route, undefined, 'requirements');
    const second = clearance.pass({ ...route, proxyUrl: 'http://proxy:8080' }, undefined, 'requirements');
    await settled();
    expect(solver.pending.map((pending) => pending.route.proxyUrl)).toEqual([undefined, 'http://proxy:8080']);
    solver.earn('c1');
    solver.earn('c2');
    await Promise.all([first, second]);
  });

  it('solves again when the clearance it holds is refused, but not for a request refused with an older one', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const first = clearance.pass(route, undefined, 'requirements');
    await settled();
    solver.earn('c1');
    await first;

    clock.current += FRESH_CLEARANCE_MS + 1;
    const refusedAgain = clearance.pass(route, 'cf_clearance=c1', 'conversation');
    await settled();
    expect(solver.pending).toHaveLength(1);
    solver.earn('c2');
    await refusedAgain;
    // Challenged with c1 while c2 was being earned: c2 is used, no third solve.
    await clearance.pass(route, 'cf_clearance=c1', 'conversation');
    expect(clearance.solves).toBe(2);
    expect(clearance.cookieHeader(route)).toBe('cf_clearance=c2');
  });

  it('fails every waiting request with cf_challenge saying the helper could not pass it', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const waiting = [clearance.pass(route, undefined, 'requirements'), clearance.pass(route, undefined, 'conversation')];
    await settled();
    solver.fail('no cf_clearance cookie within 5000 ms');
    const failures = await Promise.all(waiting.map((promise) => promise.catch((error: unknown) => error)));
    for (const [index, failure] of failures.entries()) {
      expect(failure).toBeInstanceOf(UpstreamError);
      expect(failure).toMatchObject({ kind: 'cf_challenge', step: index === 0 ? 'requirements' : 'conversation' });
      expect((failure as Error).message).toContain(
        'the Chromium clearance helper could not pass it: no cf_clearance cookie within 5000 ms',
      );
      expect((failure as UpstreamError).toApiError().body.error).toMatchObject({ type: 'upstream_error', code: 'cf_challenge' });
    }
  });

  // Each solve holds its requests for up to CF_CLEARANCE_TIMEOUT_MS, and most failures last (no Chromium, a captcha).
  it('fails a route at once, without a solve, for a cool-down after its solve failed; other routes still solve', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const first = clearance.pass(route, undefined, 'requirements').catch((error: unknown) => error);
    await settled();
    solver.fail('Chromium did not start from /nonexistent/chromium');
    await first;

    clock.current += FAILED_SOLVE_COOLDOWN_MS - 60_000;
    const cooling = await clearance.pass(route, undefined, 'conversation').catch((error: unknown) => error);
    expect(cooling).toMatchObject({ kind: 'cf_challenge', step: 'conversation' });
    expect((cooling as Error).message).toContain(
      'the Chromium clearance helper could not pass it: Chromium did not start from /nonexistent/chromium (not tried again on this route for 60 s)',
    );
    expect(solver.pending).toHaveLength(0);
    expect(clearance.solves).toBe(1);

    const otherRoute = clearance.pass({ ...route, proxyUrl: 'http://proxy:8080' }, undefined, 'requirements');
    await settled();
    solver.earn('c1');
    await otherRoute;

    clock.current += 60_001;
    const retried = clearance.pass(route, undefined, 'requirements');
    await settled();
    expect(solver.pending).toHaveLength(1);
    solver.earn('c2');
    await retried;
    expect(clearance.solves).toBe(3);
  });

  // Chromium earned a cookie Cloudflare refuses to Node (bound to the browser's TLS fingerprint): another solve would too.
  it('cools a route down like a failed solve when its clearance is refused within FRESH_CLEARANCE_MS of being earned', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const first = clearance.pass(route, undefined, 'requirements');
    await settled();
    solver.earn('c1');
    await first;

    clock.current += FRESH_CLEARANCE_MS - 1_000;
    const refused = await clearance.pass(route, 'cf_clearance=c1', 'conversation').catch((error: unknown) => error);
    expect(refused).toMatchObject({ kind: 'cf_challenge', step: 'conversation' });
    expect((refused as Error).message).toContain('Cloudflare refused the clearance Chromium had just earned');
    const cooling = await clearance.pass(route, undefined, 'conversation').catch((error: unknown) => error);
    expect(cooling).toMatchObject({ kind: 'cf_challenge' });
    expect(solver.pending).toHaveLength(0);
    expect(clearance.solves).toBe(1);
    expect(clearance.cookieHeader(route)).toBeUndefined();

    clock.current += FAILED_SOLVE_COOLDOWN_MS + 1;
    const retried = clearance.pass(route, undefined, 'requirements');
    await settled();
    solver.earn('c2');
    await retried;
    expect(clearance.solves).toBe(2);
  });

  it('lets a caller whose client left stop waiting, while the solve goes on for the others', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const controller = new AbortController();
    const leaving = clearance.pass(route, undefined, 'conversation', controller.signal).catch((error: unknown) => error);
    const staying = clearance.pass(route, undefined, 'conversation');
    await settled();
    controller.abort();
    expect(await leaving).toMatchObject({ name: 'AbortError' });
    solver.earn('c1');
    await staying;
    expect(clearance.cookieHeader(route)).toBe('cf_clearance=c1');
  });
});
