import { Injectable } from '@nestjs/common';
import type { KeyValueStore } from '../../common/shared-state/key-value.store';
import { SharedState } from '../../common/shared-state/shared-state';
import { Clock } from '../../common/vocabulary/clock';

/** A handed-off turn streams for minutes (a research turn, half an hour); its topic may be followed again later. */
const TURN_TTL_MS = 6 * 60 * 60_000;

/**
 * The WebSocket turn topics (`conversation-turn-<id>`) each seed's own conversation streams handed off, in the
 * shared store so that the bridge on any instance knows them: a seed may follow these turns and no other's.
 */
@Injectable()
export class SeedTurns {
  private readonly turns: KeyValueStore;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.turns = shared.keyValues('gateway-seed-turn');
  }

  async record(seedId: string, topic: string): Promise<void> {
    await this.turns.set(keyOf(seedId, topic), '1', this.clock.now(), TURN_TTL_MS);
  }

  async owns(seedId: string, topic: string): Promise<boolean> {
    return (await this.turns.get(keyOf(seedId, topic), this.clock.now())) !== null;
  }
}

function keyOf(seedId: string, topic: string): string {
  return `${seedId}:${topic}`;
}
