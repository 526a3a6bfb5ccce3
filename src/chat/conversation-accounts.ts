import { Injectable, Logger } from '@nestjs/common';
import type { KeyValueStore } from '../common/shared-state/key-value.store';
import { SharedState } from '../common/shared-state/shared-state';
import { Clock } from '../common/vocabulary/clock';

/** How long a conversation's pool account is remembered after its last answer. */
export const CONVERSATION_ACCOUNT_TTL_MS = 30 * 24 * 3_600_000;

/**
 * Which pool account each conversation answered with a pool key lives on: a conversation exists only on the account
 * that made it, so its continuation (`conversation_id`) must run there, not on the next account of the rotation
 * (where the upstream answers 404). Kept in the shared state: in Redis every instance knows it; without Redis the
 * newest conversations are remembered in a file under `DATA_DIR`, across restarts.
 */
@Injectable()
export class ConversationAccounts {
  private readonly logger = new Logger(ConversationAccounts.name);
  private readonly accounts: KeyValueStore;

  constructor(
    shared: SharedState,
    private readonly clock: Clock,
  ) {
    this.accounts = shared.keyValues('conversation-account', { durable: true });
  }

  /** Remembers the pool account of a conversation; a store that does not answer only costs a later continuation. */
  async record(conversationId: string, poolAccountId: string): Promise<void> {
    try {
      await this.accounts.set(conversationId, poolAccountId, this.clock.now(), CONVERSATION_ACCOUNT_TTL_MS);
    } catch (error) {
      this.logger.warn(`could not remember the account of conversation ${conversationId}: ${(error as Error).message}`);
    }
  }

  /** The pool account the conversation lives on, when it is known. */
  async accountOf(conversationId: string): Promise<string | undefined> {
    return (await this.accounts.get(conversationId, this.clock.now())) ?? undefined;
  }
}
