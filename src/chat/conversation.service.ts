import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { UpstreamError } from '../common/errors/upstream-error';
import { maskSecret } from '../common/util/secrets';
import type { AccountUse } from '../auth/credential.service';
import type { ApiCredential } from '../auth/api-credential';
import { UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { AttemptRunner } from './attempts/attempt-runner';
import { HandoffService } from './handoff/handoff.service';
import type { ResolvedModel } from './models/model-mapping';
import type { UpstreamMessage } from './message-converter';
import { SendFlowSelector } from './send-flows/send-flow.selector';
import type { TranslatedPiece } from './translation/upstream-stream-translator';
import { startedAnswer } from './upstream-answer-stream';
import type { AttemptFindings, PinnedBy } from './attempts/attempt-policy';
import { planTierOfPersona } from './send-flows/send-flow';

export interface ConversationRequest {
  model: ResolvedModel;
  /** Builds the upstream messages for the account of an attempt (uploads happen per account). */
  messages: (identity: UpstreamIdentity, baseUrl: string) => Promise<UpstreamMessage[]>;
  conversationId?: string;
  parentMessageId?: string;
  historyDisabled: boolean;
  chatgptAccountId?: string;
  /** With a pool key: the pool account holding `conversationId`, which the request must run on. */
  preferredAccountId?: string;
  /** The request field that pinned it (`AttemptTarget.pinnedBy`). */
  pinnedBy?: PinnedBy;
}

/** A conversation whose answer has started: the pieces still to come, read lazily from the upstream in batches. */
export interface StartedConversation {
  pieces: AsyncGenerator<TranslatedPiece[]>;
  /** The account that answered, for links to the files it made. */
  account: AccountUse;
  identity: UpstreamIdentity;
  baseUrl: string;
}

/**
 * Runs one chat against the upstream: the send flow (`SendFlowSelector`: sentinel, uploads, the conversation
 * POST) and the read until the answer has started. Everything before that point is one attempt, retried on
 * other accounts as `AttemptPolicy` decides (through `AttemptRunner`); nothing after it is.
 */
@Injectable()
export class ConversationService {
  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly flows: SendFlowSelector,
    private readonly attempts: AttemptRunner,
    private readonly handoffs: HandoffService,
  ) {}

  start(credential: ApiCredential, request: ConversationRequest, signal: AbortSignal): Promise<StartedConversation> {
    const target = {
      modelSlug: request.model.slug,
      teamOverride: request.chatgptAccountId,
      preferredAccountId: request.preferredAccountId,
      pinnedBy: request.pinnedBy,
      paidOnly: request.model.paidOnly,
      continuesConversation: Boolean(request.conversationId),
    };
    return this.attempts.run(credential, target, signal, (use, seen) => this.attempt(use, request, signal, seen));
  }

  private async attempt(
    use: AccountUse,
    request: ConversationRequest,
    signal: AbortSignal,
    seen: AttemptFindings,
  ): Promise<StartedConversation> {
    const identity = this.upstream.accountIdentity(use);
    const baseUrl = this.upstream.pickBaseUrl();
    const account = {
      key: use.fingerprintKey,
      label: use.poolAccountId ? `pool account ${use.poolAccountId}` : `account ${maskSecret(use.accessToken)}`,
    };
    const ready = await this.flows.prepare({ identity, baseUrl, request, account, signal });
    seen.plan = planTierOfPersona(ready.persona);

    // The first-byte deadline runs from sending the conversation until the answer starts; after that only the idle timeout applies.
    const firstByteMs = this.config.upstreamFirstByteTimeoutMs;
    const stalled = new AbortController();
    const timer = setTimeout(() => stalled.abort(), firstByteMs);
    try {
      const attemptSignal = AbortSignal.any([signal, stalled.signal]);
      const body = await ready.post(attemptSignal);
      // A thinking turn may answer with only a `stream_handoff` stub: its deltas then come over the WebSocket.
      const answer = await this.handoffs.answerBody(body, identity, baseUrl, attemptSignal);
      return { pieces: await startedAnswer(answer), account: use, identity, baseUrl };
    } catch (error) {
      if (stalled.signal.aborted && !signal.aborted)
        throw new UpstreamError({ kind: 'first_byte_timeout', step: 'conversation', waitedMs: firstByteMs });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
