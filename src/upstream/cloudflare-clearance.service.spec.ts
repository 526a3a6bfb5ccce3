import { UpstreamError } from '../common/errors/upstream-error';
import { AppConfig } from '../config/app-config';
import { ClearanceCookie, ClearanceRoute } from './clearance-jar';
import { ClearanceSolver } from './chromium-clearance.solver';
import { CloudflareClearance } from './cloudflare-clearance.service';

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
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

function clearanceWith(solver: ClearanceSolver, helper: 'off' | 'chromium' = 'chromium'): CloudflareClearance {
  const config = Object.assign(new AppConfig(), { cfClearance: helper, cfClearanceTimeoutMs: 5_000 });
  return new CloudflareClearance(config, solver);
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

  it('fails every waiting request with cf_challenge saying the helper could not pass it, and tries again next time', async () => {
    const solver = new ManualSolver();
    const clearance = clearanceWith(solver);
    const waiting = [clearance.pass(route, undefined, 'requirements'), clearance.pass(route, undefined, 'conversation')];
    await settled();
    solver.pending.shift()?.reject(new Error('no cf_clearance cookie within 5000 ms'));
    const failures = await Promise.all(waiting.map((promise) => promise.catch((error: unknown) => error)));
    for (const [index, failure] of failures.entries()) {
      expect(failure).toBeInstanceOf(UpstreamError);
      expect(failure).toMatchObject({ kind: 'cf_challenge', step: index === 0 ? 'requirements' : 'conversation' });
      expect((failure as Error).message).toContain(
        'the Chromium clearance helper could not pass it: no cf_clearance cookie within 5000 ms',
      );
      expect((failure as UpstreamError).toApiError().body.error).toMatchObject({ type: 'upstream_error', code: 'cf_challenge' });
    }
    const retried = clearance.pass(route, undefined, 'requirements');
    await settled();
    expect(solver.pending).toHaveLength(1);
    solver.earn('c1');
    await retried;
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
