import { Injectable } from '@nestjs/common';

/**
 * Credential renewals under way, and the refresh jobs the server runs on its own (start-up, schedule), so that a
 * shutdown can stop starting new ones and wait for those running (`SHUTDOWN_GRACE_MS`) before the upstream agents
 * and the store close. An auth server that rotates RefreshTokens spends the old value as it answers: a process that
 * exits between that answer and storing the new value loses the account.
 */
@Injectable()
export class BackgroundWork {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  /** How many are running. */
  get size(): number {
    return this.running.size;
  }

  /** False once the shutdown has begun: refresh jobs start nothing new (work in requests still finishing goes on). */
  get accepting(): boolean {
    return !this.stopping;
  }

  /** Runs `work`, which the shutdown waits for until it settles. */
  track<T>(work: () => Promise<T>): Promise<T> {
    const result = work();
    const settled: Promise<void> = result.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return result;
  }

  stop(): void {
    this.stopping = true;
  }

  /** Resolves true once nothing is running (work started meanwhile included), or false when `timeoutMs` passes first. */
  async whenSettled(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), timeoutMs)));
    try {
      while (this.running.size > 0) {
        if ((await Promise.race([Promise.all(this.running), timedOut])) === 'timed out') return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
