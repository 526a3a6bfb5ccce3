import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { UpstreamError } from '../../common/errors/upstream-error';
import { BuildInfoService } from '../../pow/build-info.service';
import { SentinelService } from '../../pow/sentinel.service';
import { UpstreamClient, UpstreamIdentity } from '../../upstream/upstream.client';
import { upstreamFailure } from '../../upstream/upstream-failure';
import { WEB_APP_DEFAULTS } from '../../upstream/web-app-defaults';
import { newTurn, WebAppTurn, webAppTurnHeaders } from '../../upstream/web-app-profile';
import { conversationBody, conversationPrepareBody } from '../conversation-body';
import { postConversation, ReadySend, refuseUnpaidPersona, SendFlow, SendInput } from './send-flow';

const PREPARE_TIMEOUT_MS = 10_000;
/** What `f/conversation/prepare` is sent before there is a conduit token. */
const NO_CONDUIT_TOKEN = 'no-token';

/**
 * The web app's flow of 2025–2026 (`gateway-live-ui.md` §4): the prepare/finalize sentinel, then
 * `f/conversation/prepare` for a conduit token, then `POST /backend-api/f/conversation` with the sentinel
 * tokens, the conduit token and the web app's release and turn headers.
 */
@Injectable()
export class FConversationSendFlow implements SendFlow {
  readonly name = 'f';

  constructor(
    private readonly config: AppConfig,
    private readonly upstream: UpstreamClient,
    private readonly sentinel: SentinelService,
    private readonly buildInfo: BuildInfoService,
  ) {}

  async prepare({ identity, baseUrl, request, signal }: SendInput): Promise<ReadySend> {
    const turn = newTurn(await this.buildInfo.get(baseUrl), Date.now());
    const clearance = await this.sentinel.clearPrepared(baseUrl, identity, webAppTurnHeaders(turn, Date.now()), signal);
    refuseUnpaidPersona(request, clearance.persona, 'sentinel_prepare');
    const messages = await request.messages(identity, baseUrl);
    const body = conversationBody(request, messages, this.config.upstreamDeltaEncoding);
    const conduitToken = await this.conduitToken(baseUrl, identity, turn, body, signal);
    const path = WEB_APP_DEFAULTS.conversationPath;
    return {
      flow: this.name,
      persona: clearance.persona,
      post: (postSignal) =>
        postConversation(
          this.upstream,
          {
            url: `${baseUrl}${path}`,
            identity,
            headers: { ...webAppTurnHeaders(turn, Date.now(), path), ...clearance.headers, 'x-conduit-token': conduitToken },
            body,
            request,
            firstByteTimeoutMs: this.config.upstreamFirstByteTimeoutMs,
          },
          postSignal,
        ),
    };
  }

  /** `POST f/conversation/prepare` with `x-conduit-token: no-token` → the turn's `conduit_token`. */
  private async conduitToken(
    baseUrl: string,
    identity: UpstreamIdentity,
    turn: WebAppTurn,
    body: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<string> {
    const path = `${WEB_APP_DEFAULTS.conversationPath}/prepare`;
    const response = await this.upstream.request({
      method: 'POST',
      url: `${baseUrl}${path}`,
      identity,
      headers: { ...webAppTurnHeaders(turn, Date.now(), path), 'x-conduit-token': NO_CONDUIT_TOKEN },
      json: conversationPrepareBody(body),
      timeoutMs: PREPARE_TIMEOUT_MS,
      signal,
      step: 'conversation_prepare',
    });
    if (response.status !== 200) throw upstreamFailure('conversation_prepare', response.status, response.headers, response.body);
    const token = parseConduitToken(response.body);
    if (!token) throw new UpstreamError({ kind: 'no_conduit_token', step: 'conversation_prepare', status: 200 });
    return token;
  }
}

function parseConduitToken(body: Buffer): string | undefined {
  try {
    const token = (JSON.parse(body.toString('utf8')) as { conduit_token?: unknown }).conduit_token;
    return typeof token === 'string' && token ? token : undefined;
  } catch {
    return undefined;
  }
}
