import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { UpstreamError } from '../common/errors/upstream-error';
import type { AccountUse } from '../auth/credential.service';
import type { ApiCredential } from '../auth/api-credential';
import { SentinelService } from '../pow/sentinel.service';
import { UpstreamClient, UpstreamIdentity } from '../upstream/upstream.client';
import { upstreamFailure } from '../upstream/upstream-failure';
import { AttemptRunner } from './attempts/attempt-runner';
import { conversationBody } from './conversation-body';
import { HandoffService } from './handoff/handoff.service';
import type { ResolvedModel } from './models/model-mapping';
import type { UpstreamMessage } from './message-converter';
import type { TranslatedPiece } from './translation/upstream-stream-translator';
import { readLimited, startedAnswer } from './upstream-answer-stream';

export interface ConversationRequest {
  model: ResolvedModel;
  /** Builds the upstream messages for the account of an attempt (uploads happen per account). */
  messages: (identity: UpstreamIdentity, baseUrl: string) => Promise<UpstreamMessage[]>;
  conversationId?: string;
  parentMessageId?: string;
  historyDisabled: boolean;
  chatgptAccountId?: string;
}

/** A conversation whose answer has started: the pieces still to come, read lazily from the upstream. */
export interface StartedConversation {
  pieces: AsyncGenerator<TranslatedPiece>;
  identity: UpstreamIdentity;
  baseUrl: string;
}

const CONVERSATION_HEADERS_TIMEOUT_MS = 30_000;
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Runs one chat against the upstream: clears the sentinel, posts the conversation and reads until the answer
 * has started. Everything before that point is one attempt, retried on other accounts as `AttemptPolicy`
 * decides (through `AttemptRunner`); nothing after it is.
 */
@Injectable()
export class ConversationService {
  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly sentinel: SentinelService,
    private readonly attempts: AttemptRunner,
    private readonly handoffs: HandoffService,
  ) {}

  start(credential: ApiCredential, request: ConversationRequest, signal: AbortSignal): Promise<StartedConversation> {
    const target = { modelSlug: request.model.slug, teamOverride: request.chatgptAccountId };
    return this.attempts.run(credential, target, signal, (use) => this.attempt(use, request, signal));
  }

  private async attempt(use: AccountUse, request: ConversationRequest, signal: AbortSignal): Promise<StartedConversation> {
    const identity: UpstreamIdentity = {
      accessToken: use.accessToken,
      chatgptAccountId: use.chatgptAccountId,
      fingerprint: this.upstream.fingerprint(use.fingerprintKey),
    };
    const baseUrl = this.upstream.pickBaseUrl();
    const clearance = await this.sentinel.clear(baseUrl, identity, signal);
    if (request.model.paidOnly && clearance.persona && clearance.persona !== 'chatgpt-paid') throw ApiError.modelNotFound(request.model.requested);

    const messages = await request.messages(identity, baseUrl);
    // The first-byte deadline runs from sending the conversation until the answer starts; after that only the idle timeout applies.
    const firstByteMs = this.config.upstreamFirstByteTimeoutMs;
    const stalled = new AbortController();
    const timer = setTimeout(() => stalled.abort(), firstByteMs);
    try {
      const pieces = await this.converse(request, messages, identity, baseUrl, clearance.headers, AbortSignal.any([signal, stalled.signal]));
      return { pieces, identity, baseUrl };
    } catch (error) {
      if (stalled.signal.aborted && !signal.aborted) throw new UpstreamError({ kind: 'first_byte_timeout', step: 'conversation', waitedMs: firstByteMs });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Posts the conversation and reads until the answer has started. */
  private async converse(
    request: ConversationRequest,
    messages: UpstreamMessage[],
    identity: UpstreamIdentity,
    baseUrl: string,
    sentinelHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<AsyncGenerator<TranslatedPiece>> {
    const response = await this.upstream.stream({
      method: 'POST',
      url: `${baseUrl}/backend-api/conversation`,
      identity,
      headers: { accept: 'text/event-stream', ...sentinelHeaders },
      json: conversationBody(request, messages, this.config.upstreamDeltaEncoding),
      timeoutMs: Math.min(CONVERSATION_HEADERS_TIMEOUT_MS, this.config.upstreamFirstByteTimeoutMs),
      signal,
      step: 'conversation',
    });
    const contentType = String(response.headers['content-type'] ?? '');
    if (response.status !== 200 || !contentType.includes('text/event-stream')) {
      const body = await readLimited(response.body, ERROR_BODY_LIMIT);
      if (response.status === 200) throw new UpstreamError({ kind: 'not_streaming', step: 'conversation', status: 200 });
      if (response.status === 404 && request.model.gizmoId) throw ApiError.modelNotFound(request.model.requested);
      throw upstreamFailure('conversation', response.status, response.headers, body);
    }
    // A thinking turn may answer with only a `stream_handoff` stub: its deltas then come over the WebSocket.
    return startedAnswer(await this.handoffs.answerBody(response.body, identity, baseUrl, signal));
  }
}
