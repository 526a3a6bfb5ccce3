import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { AppConfig } from '../../config/app-config';
import { UpstreamClient, type UpstreamIdentity } from '../../upstream/upstream.client';
import { readAnswerHead } from './handoff-detector';
import { WebSocketAnswerSource } from './websocket-answer-source';

/**
 * Thinking, pro and research turns may answer the conversation POST with only a `stream_handoff` stub and
 * stream their deltas over a WebSocket (gateway-live-ui.md §4.5). This gives the rest of the pipeline the
 * answer's SSE bytes either way: the HTTP body itself, or the same events read from the socket.
 */
@Injectable()
export class HandoffService {
  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
  ) {}

  async answerBody(body: Readable, identity: UpstreamIdentity, baseUrl: string, signal: AbortSignal): Promise<Readable> {
    const head = await readAnswerHead(body);
    if (head.kind === 'stream') return head.body;
    return WebSocketAnswerSource.open(head.handoff, {
      upstream: this.upstream,
      identity,
      baseUrl,
      signal,
      // The first-byte deadline, at most 30 s: these are a handshake and short calls (a resume comes mid-answer too).
      connectTimeoutMs: Math.min(this.config.upstreamFirstByteTimeoutMs, 30_000),
      idleTimeoutMs: this.config.upstreamIdleTimeoutMs,
    });
  }
}
