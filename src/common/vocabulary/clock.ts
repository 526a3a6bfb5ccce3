import { Injectable } from '@nestjs/common';

/** The time source of the pool, so that tests can move time by hand. */
export abstract class Clock {
  /** Milliseconds since the epoch. */
  abstract now(): number;
}

@Injectable()
export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}
