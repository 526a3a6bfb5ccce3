import { Clock } from '../../common/vocabulary/clock';

/** A clock that only moves when a test tells it to. */
export class FakeClock extends Clock {
  constructor(private current = Date.UTC(2030, 0, 1)) {
    super();
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }

  set(ms: number): void {
    this.current = ms;
  }

  /** Moves the time on by `ms` at once: nothing waits for real. */
  async wait(ms: number): Promise<void> {
    this.advance(ms);
  }
}
