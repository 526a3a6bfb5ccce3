import { randomInt, randomUUID } from 'node:crypto';
import type { ConversationRequest } from './conversation.service';
import type { UpstreamMessage } from './message-converter';

/**
 * The JSON body of `POST /backend-api/conversation` (upstream-protocol.md §4), as the web client sends it;
 * `deltaEncoding` asks for the v1 delta encoding (`UPSTREAM_DELTA_ENCODING`).
 */
export function conversationBody(
  request: ConversationRequest,
  messages: UpstreamMessage[],
  deltaEncoding: boolean,
): Record<string, unknown> {
  const { model } = request;
  return {
    action: 'next',
    messages,
    model: model.slug,
    parent_message_id: request.parentMessageId ?? randomUUID(),
    ...(request.conversationId ? { conversation_id: request.conversationId } : {}),
    conversation_mode: model.gizmoId ? { kind: 'gizmo_interaction', gizmo_id: model.gizmoId } : { kind: 'primary_assistant' },
    history_and_training_disabled: request.historyDisabled,
    websocket_request_id: randomUUID(),
    supported_encodings: deltaEncoding ? ['v1'] : [],
    force_use_sse: true,
    force_paragen: false,
    force_paragen_model_slug: '',
    force_rate_limit: false,
    reset_rate_limits: false,
    suggestions: [],
    system_hints: [],
    conversation_origin: null,
    paragen_cot_summary_display_override: 'allow',
    paragen_stream_type_override: null,
    variant_purpose: 'comparison_implicit',
    timezone: 'America/Los_Angeles',
    timezone_offset_min: -480,
    client_contextual_info: {
      is_dark_mode: false,
      time_since_loaded: randomInt(50, 501),
      page_height: randomInt(500, 1001),
      page_width: randomInt(1000, 2001),
      pixel_ratio: 1.5,
      screen_height: randomInt(800, 1201),
      screen_width: randomInt(1200, 2201),
    },
  };
}

/** The fields of a conversation body that describe the composer, not the messages. */
const COMPOSER_FIELDS = [
  'action',
  'model',
  'parent_message_id',
  'conversation_id',
  'conversation_mode',
  'system_hints',
  'supported_encodings',
  'timezone',
  'timezone_offset_min',
] as const;

/**
 * The body of `POST /backend-api/f/conversation/prepare` (`gateway-live-ui.md` §4: "the composer state"): the
 * conversation's composer fields without the messages. Which fields the upstream reads is not public (assumed).
 */
export function conversationPrepareBody(body: Record<string, unknown>): Record<string, unknown> {
  const composer: Record<string, unknown> = { fork_from_shared_post: false, client_prepare_state: 'success', supports_buffering: true };
  for (const field of COMPOSER_FIELDS) if (body[field] !== undefined) composer[field] = body[field];
  return composer;
}
