import type { Readable } from 'node:stream';
import { ApiError, type UpstreamStep } from '../../common/errors/api-error';
import type { PlanTier } from '../../common/vocabulary/plan-tier';
import type { UpstreamFlowSetting } from '../../config/app-config';
import { UpstreamError } from '../../common/errors/upstream-error';
import type { UpstreamClient, UpstreamIdentity } from '../../upstream/upstream.client';
import { upstreamFailure } from '../../upstream/upstream-failure';
import type { ConversationRequest } from '../conversation.service';
import { readLimited } from '../upstream-answer-stream';

export type SendFlowName = Exclude<UpstreamFlowSetting, 'auto'>;

/** One attempt's send: who, where and what. */
export interface SendInput {
  identity: UpstreamIdentity;
  baseUrl: string;
  request: ConversationRequest;
  /** Names the account for the flow memory (hashed there) and, already masked, for the logs. */
  account: { key: string; label: string };
  signal: AbortSignal;
}

/** A conversation ready to post (sentinel cleared, messages built): posting it returns the answer's event stream. */
export interface ReadySend {
  readonly flow: SendFlowName;
  /** The account's persona, as the sentinel answered it (`chatgpt-paid`, `chatgpt-freeaccount`); none with CONVERSATION_ONLY. */
  readonly persona?: string;
  post(signal: AbortSignal): Promise<Readable>;
}

/**
 * One way of sending a message to the upstream. Both end in the same SSE answer (classic or v1 delta), which
 * `startedAnswer` translates whatever flow produced it.
 */
export interface SendFlow {
  readonly name: SendFlowName;
  prepare(input: SendInput): Promise<ReadySend>;
}

/**
 * The plan tier a sentinel persona shows: paid for `chatgpt-paid`, the one persona that may use the paid-only models
 * (upstream-protocol.md §3.3), free for any other; unknown without one.
 */
export function planTierOfPersona(persona: string | undefined): PlanTier | undefined {
  if (!persona) return undefined;
  return persona === 'chatgpt-paid' ? 'paid' : 'free';
}

/**
 * A paid-only model on an account whose sentinel persona says it is not paid (upstream-protocol.md §3.3): this
 * account cannot serve it, another one may (`AttemptPolicy`); the client is told 404 `model_not_found`.
 */
export function refuseUnpaidPersona(request: ConversationRequest, persona: string | undefined, step: UpstreamStep): void {
  if (request.model.paidOnly && planTierOfPersona(persona) === 'free') {
    throw new UpstreamError({ kind: 'model_not_in_plan', step, model: request.model.requested });
  }
}

const ERROR_BODY_LIMIT = 64 * 1024;

export interface ConversationPost {
  url: string;
  identity: UpstreamIdentity;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  request: ConversationRequest;
  /** `UPSTREAM_FIRST_BYTE_TIMEOUT_MS`: the response headers are awaited at most this long. */
  firstByteTimeoutMs: number;
}

/** Posts a conversation (either path) and returns its event stream, or throws what the upstream's refusal means. */
export async function postConversation(upstream: UpstreamClient, post: ConversationPost, signal: AbortSignal): Promise<Readable> {
  const response = await upstream.stream({
    method: 'POST',
    url: post.url,
    identity: post.identity,
    headers: { accept: 'text/event-stream', ...post.headers },
    json: post.body,
    timeoutMs: post.firstByteTimeoutMs,
    signal,
    step: 'conversation',
  });
  const contentType = String(response.headers['content-type'] ?? '');
  if (response.status === 200 && contentType.includes('text/event-stream')) return response.body;
  const body = await readLimited(response.body, ERROR_BODY_LIMIT);
  if (response.status === 200) throw new UpstreamError({ kind: 'not_streaming', step: 'conversation', status: 200 });
  if (response.status === 404 && post.request.model.gizmoId) throw ApiError.modelNotFound(post.request.model.requested);
  throw upstreamFailure('conversation', response.status, response.headers, body);
}
