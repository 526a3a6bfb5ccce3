import { Injectable } from '@nestjs/common';
import { setTimeout as delay } from 'node:timers/promises';

/** The time source of the pool, so that tests can move time by hand. */
export abstract class Clock {
  /** Milliseconds since the epoch. */
  abstract now(): number;

  /** Resolves once `ms` of this clock's time has passed. */
  async wait(ms: number): Promise<void> {
    await delay(ms);
  }
}

@Injectable()
export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}
