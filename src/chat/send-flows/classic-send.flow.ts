import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { SentinelService } from '../../pow/sentinel.service';
import { UpstreamClient } from '../../upstream/upstream.client';
import { conversationBody } from '../conversation-body';
import { postConversation, ReadySend, refuseUnpaidPersona, SendFlow, SendInput } from './send-flow';

/**
 * The flow of early 2025 (upstream-protocol.md §3–6): `sentinel/chat-requirements`, then
 * `POST /backend-api/conversation`. The upstream still serves it where its `f_completion` gate is off.
 */
@Injectable()
export class ClassicSendFlow implements SendFlow {
  readonly name = 'classic';

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly sentinel: SentinelService,
  ) {}

  async prepare({ identity, baseUrl, request, signal }: SendInput): Promise<ReadySend> {
    const clearance = await this.sentinel.clear(baseUrl, identity, signal);
    refuseUnpaidPersona(request, clearance.persona, 'requirements');
    const messages = await request.messages(identity, baseUrl);
    const body = conversationBody(request, messages, this.config.upstreamDeltaEncoding);
    const firstByteTimeoutMs = this.config.upstreamFirstByteTimeoutMs;
    return {
      flow: this.name,
      persona: clearance.persona,
      post: (postSignal) =>
        postConversation(
          this.upstream,
          { url: `${baseUrl}/backend-api/conversation`, identity, headers: clearance.headers, body, request, firstByteTimeoutMs },
          postSignal,
        ),
    };
  }
}
