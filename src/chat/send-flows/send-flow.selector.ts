import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import { UpstreamError } from '../../common/errors/upstream-error';
import type { UpstreamStep } from '../../common/errors/api-error';
import type { KeyValueStore } from '../../common/shared-state/key-value.store';
import { LocalWhileStoreDown } from '../../common/shared-state/local-while-store-down';
import { SharedState } from '../../common/shared-state/shared-state';
import { ClassicSendFlow } from './classic-send.flow';
import { FConversationSendFlow } from './f-conversation-send.flow';
import type { ReadySend, SendInput } from './send-flow';

/** How long an account that refused the new flow is sent through the classic one before the new one is tried again. */
export const CLASSIC_FALLBACK_TTL_MS = 6 * 60 * 60_000;

/** The calls of the new flow whose 404 means "this account does not have the new flow" (not "no such conversation"). */
const NEW_FLOW_STEPS: ReadonlySet<UpstreamStep> = new Set(['sentinel_prepare', 'sentinel_finalize', 'conversation_prepare']);

/** True when the upstream answered 404 to one of the new flow's own paths. */
export function newFlowMissing(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.kind === 'not_found' && NEW_FLOW_STEPS.has(error.step);
}

/**
 * `UPSTREAM_FLOW`: which send flow an attempt uses. `f` and `classic` always use that flow; `auto` uses the new
 * flow, and when the upstream answers 404 to its paths falls back to the classic one at once and remembers that
 * answer for the account for `CLASSIC_FALLBACK_TTL_MS` (in the shared state, so every instance agrees), logging
 * the switch once. That memory only spares the new flow's failing calls: while Redis does not answer it is kept in
 * this process (empty at first, so the new flow is tried), and a chat made with the caller's own token goes on.
 */
@Injectable()
export class SendFlowSelector {
  private readonly logger = new Logger(SendFlowSelector.name);
  private readonly classicAccounts: LocalWhileStoreDown<KeyValueStore>;

  constructor(
    private readonly config: AppConfig,
    shared: SharedState,
    private readonly classic: ClassicSendFlow,
    private readonly fConversation: FConversationSendFlow,
  ) {
    const namespace = 'upstream-flow';
    this.classicAccounts = new LocalWhileStoreDown(
      shared.keyValues(namespace, { durable: true }),
      shared.local?.keyValues(namespace) ?? null,
      this.logger,
      'remembering the accounts on the classic send flow',
    );
  }

  async prepare(input: SendInput): Promise<ReadySend> {
    switch (this.config.upstreamFlow) {
      case 'classic':
        return this.classic.prepare(input);
      case 'f':
        return this.fConversation.prepare(input);
      case 'auto':
        return this.auto(input);
    }
  }

  private async auto(input: SendInput): Promise<ReadySend> {
    const key = keyOf(input.account.key);
    const now = Date.now();
    if (await this.classicAccounts.run((store) => store.get(key, now))) return this.classic.prepare(input);
    try {
      return await this.fConversation.prepare(input);
    } catch (error) {
      if (!newFlowMissing(error)) throw error;
      await this.rememberClassic(key, input, error.step);
      return this.classic.prepare(input);
    }
  }

  private async rememberClassic(key: string, input: SendInput, step: UpstreamStep): Promise<void> {
    const now = Date.now();
    // Read again: another request (or instance) may have learnt the same a moment ago, and the switch is logged once.
    const known = await this.classicAccounts.run(async (store) => {
      const value = await store.get(key, now);
      await store.set(key, 'classic', now, CLASSIC_FALLBACK_TTL_MS);
      return value;
    });
    if (!known) {
      const hours = CLASSIC_FALLBACK_TTL_MS / 3_600_000;
      this.logger.log(`${input.account.label} answered 404 to the new send flow (${step}): using the classic flow for it for ${hours} h`);
    }
  }
}

/** Keys hold a hash, never the token itself. */
function keyOf(accountKey: string): string {
  return createHash('sha256').update(accountKey).digest('base64url').slice(0, 22);
}
