import type { ApiErrorType } from './api-error';

interface CatalogEntry {
  status: number;
  type: ApiErrorType;
  /** The wire `code`, when several entries share one (the entry's name otherwise). */
  code?: string;
  /** The client message; `{name}` is a required parameter, `{name?}` one that may be left out. */
  message: string;
  /** The request field the error is about, when it is always the same one. */
  param?: string;
  /** Seconds to send in `Retry-After`, when the entry always has the same wait. */
  retryAfter?: number;
}

/**
 * Every error the API answers with, by name: status, OpenAI `type`, wire code and message template
 * (openai-api.md §10.2). Call sites name an entry and fill its parameters (`ApiError.of`), so a code means
 * the same status and wording wherever it is raised.
 */
export const ERROR_CATALOG = {
  // The client's request.
  invalid_value: { status: 400, type: 'invalid_request_error', message: "Invalid value for '{param}': {problem}." },
  missing_required_parameter: { status: 400, type: 'invalid_request_error', message: "Missing required parameter: '{param}'{hint?}." },
  /** OpenAI's own wording for an array that must not be empty (`tools: []`). */
  empty_array: { status: 400, type: 'invalid_request_error', message: "[] is too short - '{param}'" },
  /** OpenAI's wording for a list over its limit (`stop` with more than 4 strings). */
  array_above_max_length: { status: 400, type: 'invalid_request_error', message: "Invalid '{param}': {problem}." },
  unsupported_content: { status: 400, type: 'invalid_request_error', message: "Unsupported content part type '{type}' in '{path}'." },
  unsupported_content_part: {
    status: 400,
    type: 'invalid_request_error',
    code: 'unsupported_content',
    message: "Invalid value for '{param}': {problem}.",
  },
  invalid_base64: { status: 400, type: 'invalid_request_error', message: "Invalid value for '{param}': not a valid base64 data: URL." },
  invalid_image_url: { status: 400, type: 'invalid_request_error', message: "Could not fetch '{param}': {reason}." },
  invalid_seed: {
    status: 400,
    type: 'invalid_request_error',
    param: 'seed',
    message: 'A seed must not be an AccessToken, a RefreshToken or a pool key.',
  },
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    message: 'We could not parse the JSON body of your request: it is not valid JSON.',
  },
  request_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body is too large{limit?}.' },
  invalid_multipart: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The multipart/form-data body of your request could not be read: {reason}.',
  },
  attachments_too_large: {
    status: 413,
    type: 'invalid_request_error',
    message: "The request's images and files are larger than {limit} bytes in all (MAX_ATTACHMENTS_SIZE); '{param}' goes over it.",
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    message: "The request body must be JSON, sent with 'Content-Type: application/json'.",
  },
  unsupported_media_type_or_form: {
    status: 415,
    type: 'invalid_request_error',
    code: 'unsupported_media_type',
    message: "The request body must be multipart/form-data (or JSON), sent with that 'Content-Type'.",
  },
  unsupported_media_type_not_form: {
    status: 415,
    type: 'invalid_request_error',
    code: 'unsupported_media_type',
    message: "The request body must be multipart/form-data, sent with that 'Content-Type'.",
  },
  unsupported_encoding: {
    status: 415,
    type: 'invalid_request_error',
    message: 'The request body has an unsupported Content-Encoding (use gzip, deflate or br, or none).',
  },
  unsupported_multipart_encoding: {
    status: 415,
    type: 'invalid_request_error',
    code: 'unsupported_encoding',
    message: 'A multipart/form-data body must be sent without a Content-Encoding.',
  },
  unsupported_charset: { status: 415, type: 'invalid_request_error', message: 'The request body has an unsupported charset (use UTF-8).' },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    param: 'model',
    message: 'The model `{model}` does not exist or you do not have access to it.',
  },
  conversation_unavailable: {
    status: 409,
    type: 'invalid_request_error',
    param: 'conversation_id',
    message:
      "The conversation of 'conversation_id' lives on a pool account that cannot be used now (removed, disabled or rate limited), and no other account holds it: try again later, or start a new conversation without 'conversation_id'.",
  },
  previous_response_unavailable: {
    status: 409,
    type: 'invalid_request_error',
    param: 'previous_response_id',
    message:
      "The conversation of 'previous_response_id' lives on a pool account that cannot be used now (removed, disabled or rate limited), and no other account holds it: try again later, or start a new conversation without 'previous_response_id'.",
  },
  unknown_url: { status: 404, type: 'invalid_request_error', message: 'Unknown request URL: {method} {path}.' },
  response_not_found: { status: 404, type: 'invalid_request_error', code: 'not_found', message: "Response with id '{id}' not found." },
  previous_response_not_found: {
    status: 404,
    type: 'invalid_request_error',
    param: 'previous_response_id',
    message: "Previous response with id '{id}' not found.",
  },
  file_not_found: { status: 404, type: 'invalid_request_error', message: 'No such file: the link is unknown or has expired.' },
  /** OpenAI's wording for a Files API id it does not know (another key's files included). */
  uploaded_file_not_found: { status: 404, type: 'invalid_request_error', param: 'id', message: 'No such File object: {id}' },
  uploaded_file_unknown: {
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_value',
    message: "Invalid value for '{param}': no file '{id}' was uploaded to /v1/files with this API key.",
  },
  file_upload_too_large: {
    status: 413,
    type: 'invalid_request_error',
    param: 'file',
    message: 'The file is larger than {limit} bytes (FILES_MAX_SIZE).',
  },
  files_storage_full: {
    status: 413,
    type: 'invalid_request_error',
    param: 'file',
    message: 'This server keeps no more uploaded files right now (FILES_MAX_TOTAL_SIZE): delete some, or try again later.',
  },
  files_quota_exceeded: {
    status: 413,
    type: 'invalid_request_error',
    param: 'file',
    message: 'The files of this API key would take more than {limit} bytes (FILES_MAX_OWNER_SIZE; {used} bytes in use): delete some first.',
  },
  file_gone: { status: 404, type: 'invalid_request_error', code: 'file_not_found', message: 'The upstream no longer has this file.' },

  // The admin API.
  seed_not_found: { status: 404, type: 'invalid_request_error', message: 'No such seed.' },
  seed_id_not_found: { status: 404, type: 'invalid_request_error', code: 'seed_not_found', message: "No seed with id '{id}'." },
  account_not_found: { status: 404, type: 'invalid_request_error', message: "No account with id '{id}'." },

  // The browser gateway (gateway/): the host, the method, a seed's limits.
  host_not_allowed: { status: 421, type: 'invalid_request_error', message: 'This server does not answer for that host name.' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', message: '{method} is not proxied.' },
  conversation_not_found: { status: 404, type: 'invalid_request_error', message: 'Conversation not found.' },
  seed_file_not_found: { status: 404, type: 'invalid_request_error', code: 'file_not_found', message: 'File not found.' },
  seed_restricted: { status: 403, type: 'invalid_request_error', message: 'A shared account cannot use this feature.' },

  // Who is calling.
  auth_key_invalid: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Missing or wrong auth key: send it in the `auth_key` (or `authkey`) header.',
  },
  api_key_missing: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Missing API key: send `Authorization: Bearer <token>`.',
  },
  api_key_unsendable: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Invalid API key: it holds characters that cannot be sent in an HTTP header.',
  },
  /** A key of none of the accepted shapes; never repeats the key. */
  api_key_unrecognised: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message:
      'Invalid API key. Accepted keys: a ChatGPT AccessToken (a JWT starting with eyJhbGciOi, or fk-…), a RefreshToken (rt_… or the 45-character legacy form), a SessionToken (the __Secure-next-auth.session-token cookie: a JWE of five dot-separated parts, or any value as st:<value>), each optionally followed by ,<account_id> (a UUID) for a Team workspace; the pool key configured in AUTHORIZATION; or a SeedToken created by the admin.',
  },
  seed_token_invalid: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', message: 'Invalid seed token.' },
  refresh_token_rejected: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'The refresh token was rejected by the auth server (invalid or revoked).',
  },
  session_token_rejected: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'The session token was rejected by chatgpt.com (signed out or expired): copy a new __Secure-next-auth.session-token.',
  },
  admin_key_missing: {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_admin_key',
    message: 'Missing admin credentials: send `Authorization: Bearer <admin secret>`.',
  },
  metrics_key_missing: {
    status: 401,
    type: 'authentication_error',
    code: 'invalid_admin_key',
    message: 'Missing credentials: send `Authorization: Bearer <admin secret>`.',
  },
  invalid_admin_key: { status: 401, type: 'authentication_error', message: 'Wrong admin secret.' },
  cross_site_request: { status: 403, type: 'invalid_request_error', message: 'Refused a cross-site request ({header} is not this site).' },
  invalid_csrf_token: {
    status: 403,
    type: 'invalid_request_error',
    message: 'Missing or wrong CSRF token: reload the page and try again.',
  },
  session_required: {
    status: 401,
    type: 'authentication_error',
    message: 'Sign in first: this request has no valid browser session.',
  },
  session_expired: {
    status: 401,
    type: 'invalid_request_error',
    message: 'Your FlowGPT session has ended or its token no longer works: sign in again.',
  },

  // Limits and availability of this service.
  admin_auth_throttled: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'Too many failed admin authentications from your address. Try again later.',
  },
  sign_in_throttled: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'Too many failed sign-ins from your network. Try again in {wait}.',
  },
  path_prefix_throttled: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'Too many requests with a wrong path prefix; try again later.',
  },
  model_cap: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'Request limit exceeded for {slug}. You can continue with the default model now, or try again after {until}.',
  },
  no_available_account: { status: 503, type: 'server_error', message: 'No account in the pool is available right now. Try again later.' },
  pool_exhausted: {
    status: 503,
    type: 'server_error',
    code: 'no_available_account',
    message: 'No account in the pool could answer: {tried} tried, the last one failed with: {lastError}',
  },
  pool_busy: { status: 503, type: 'server_error', message: 'Another upload is in progress. Try again.' },
  store_unavailable: {
    status: 503,
    type: 'server_error',
    retryAfter: 5,
    message: 'The account store ({store}) is not answering; try again shortly.',
  },
  internal_error: { status: 500, type: 'server_error', message: 'The server had an error while processing your request{requestSuffix?}.' },

  // The upstream's answer (upstream-failure.ts describes it, upstream-error.ts presents it).
  cf_challenge: {
    status: 403,
    type: 'upstream_error',
    message:
      'The upstream answered with a Cloudflare challenge ({step}){said?}; route requests through PROXY_URL or a browser-grade CHATGPT_BASE_URL, or let CF_CLEARANCE=chromium pass it.',
  },
  upstream_unauthorized: {
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'The upstream rejected the access token (expired or revoked){said?}',
  },
  account_deactivated: { status: 403, type: 'upstream_error', message: 'The upstream refused the request ({step}){said?}' },
  upstream_forbidden: { status: 403, type: 'upstream_error', message: 'The upstream refused the request ({step}){said?}' },
  upstream_not_found: {
    status: 404,
    type: 'invalid_request_error',
    code: 'not_found',
    message: 'The upstream has no such resource ({step}){said?}',
  },
  context_length_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    param: 'messages',
    message: 'The upstream refused the conversation as too long for the model{said?}',
  },
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'The upstream rate limit was reached{said?}',
  },
  /** The upstream's 413 for a file a request uploads (an image attachment, an image to edit). */
  upstream_file_too_large: {
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
    message: 'The upstream refused an uploaded file as too large ({step}, status {status}){said?}',
  },
  upstream_rejected: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The upstream rejected the request ({step}, status {status}){said?}',
  },
  upstream_status: { status: 502, type: 'upstream_error', message: 'The upstream failed ({step}, status {status}){said?}' },
  upstream_timeout: { status: 504, type: 'upstream_error', message: 'The upstream did not answer in time ({step}).' },
  upstream_first_byte_timeout: {
    status: 504,
    type: 'upstream_error',
    code: 'upstream_timeout',
    message: 'The upstream did not start answering within {waitedMs} ms ({step}).',
  },
  upstream_unreachable: { status: 502, type: 'upstream_error', message: 'The upstream could not be reached ({step}).' },
  upstream_request_invalid: {
    status: 502,
    type: 'upstream_error',
    message: 'The request to the upstream could not be built ({step}): a header holds characters HTTP does not allow.',
  },
  upstream_credential_invalid: {
    status: 502,
    type: 'upstream_error',
    message: "The account's access token cannot be sent in an HTTP header ({step}).",
  },
  upstream_not_streaming: { status: 502, type: 'upstream_error', message: 'The upstream answered without a stream.' },
  upstream_no_answer: { status: 502, type: 'upstream_error', message: 'The upstream ended the conversation without answering.' },
  upstream_refused_answer: {
    status: 403,
    type: 'upstream_error',
    code: 'upstream_forbidden',
    message: 'The upstream refused to answer: {said}',
  },
  upstream_stream_cut: {
    status: 502,
    type: 'upstream_error',
    message: 'The upstream connection failed in the middle of the answer: {reason}',
  },
  upstream_websocket_failed: {
    status: 502,
    type: 'upstream_error',
    message: 'The upstream handed the answer over to its WebSocket, which could not be opened ({step}){said?}',
  },
  upstream_resume_failed: {
    status: 502,
    type: 'upstream_error',
    message: 'The upstream WebSocket dropped before the answer ended and the answer could not be resumed ({step}){said?}',
  },
  /** An error event inside an answer that had started; the upstream's own code is kept (`ApiError.of` option `code`). */
  upstream_answer_error: { status: 502, type: 'upstream_error', message: '{said}' },
  upstream_no_requirements_token: {
    status: 403,
    type: 'upstream_error',
    code: 'upstream_forbidden',
    message: 'The upstream did not issue a chat-requirements token.',
  },
  upstream_no_conduit_token: {
    status: 502,
    type: 'upstream_error',
    message: 'The upstream did not issue a conduit token ({step}).',
  },
  arkose_required: { status: 403, type: 'upstream_error', message: 'The upstream requires an Arkose challenge; set ARKOSE_TOKEN_URL.' },
  arkose_failed: { status: 403, type: 'upstream_error', message: 'The Arkose solver did not return a token{said?}.' },
  pow_unreadable: {
    status: 403,
    type: 'upstream_error',
    code: 'pow_failed',
    message: 'The upstream sent an unreadable proof-of-work challenge.',
  },
  pow_too_hard: {
    status: 403,
    type: 'upstream_error',
    code: 'pow_failed',
    message: 'Proof of work difficulty too high ({difficulty}, limit {limit}).',
  },
  pow_unsolved: { status: 403, type: 'upstream_error', code: 'pow_failed', message: 'Failed to solve the proof of work.' },
  upstream_files_refused: { status: 502, type: 'upstream_error', code: 'upstream_files', message: 'The upstream did not accept the file.' },
  upstream_files_unreadable: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_files',
    message: 'The upstream answered the file upload with something that is not JSON.',
  },
  // Generated files and images (files/, images/).
  file_too_large: { status: 502, type: 'upstream_error', message: 'The generated file is too large to inline; ask for a url instead.' },
  file_unavailable: {
    status: 502,
    type: 'upstream_error',
    message: 'The account that generated this file can no longer be used to read it.',
  },
  file_storage_broke: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_unreachable',
    message: 'The connection to the upstream file storage broke while the file was read: {reason}.',
  },
  file_storage_status: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_status',
    message: 'The upstream file storage answered {status}.',
  },
  image_stream_unsupported: {
    status: 400,
    type: 'invalid_request_error',
    code: 'unsupported_value',
    param: 'stream',
    message:
      "Unsupported value: 'stream' does not support true with model '{model}'. Supported values are: false (only the GPT image models stream).",
  },
  image_size_unsupported: {
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_value',
    param: 'size',
    message: "Invalid value: '{size}'. Supported values are: {supported}.",
  },
  /** OpenAI's wording for a file of a type the image models do not read. */
  unsupported_file_mimetype: {
    status: 400,
    type: 'invalid_request_error',
    message: "Invalid file '{param}': unsupported mimetype ('{type}'). Supported file formats are {supported}.",
  },
  invalid_image_file: { status: 400, type: 'invalid_request_error', message: "Invalid file '{param}': {problem}." },
  image_file_too_large: {
    status: 400,
    type: 'invalid_request_error',
    message: "Invalid file '{param}': {size} bytes; model '{model}' takes images of less than {limit}.",
  },
  /** OpenAI's refusal of an edit with a model that only generates (`dall-e-3`). */
  image_edit_model_unsupported: {
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_value',
    param: 'model',
    message: "Invalid value: '{model}'. Supported values are: {supported}.",
  },
  image_mask_unsupported: {
    status: 400,
    type: 'invalid_request_error',
    code: 'unsupported_parameter',
    param: 'mask',
    message:
      "Unsupported parameter: 'mask' is not supported here: the upstream's image tool edits the whole image as the prompt says and takes no mask. Leave 'mask' out and describe the area to change in the prompt.",
  },
  image_drawing_failed: { status: 502, type: 'upstream_error', message: 'The upstream failed while drawing: {said}' },
  no_image_generated: { status: 502, type: 'upstream_error', message: 'The upstream answered without an image{said}' },
  image_conversion_failed: {
    status: 502,
    type: 'upstream_error',
    message: "The upstream's image could not be converted to {format}: {reason}",
  },
  image_conversion_unavailable: {
    status: 500,
    type: 'server_error',
    message: 'This server cannot convert images ({reason}); leave output_format out to get the image as drawn.',
  },
  image_unavailable: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_status',
    message: 'The upstream drew the image but would not hand it out.',
  },
  auth_server_unavailable: {
    status: 502,
    type: 'upstream_error',
    message: 'The auth server could not exchange the refresh token; try again later.',
  },
  session_exchange_unavailable: {
    status: 502,
    type: 'upstream_error',
    code: 'auth_server_unavailable',
    message: 'chatgpt.com could not turn the session token into an access token; try again later.',
  },

  // The browser gateway's own exchanges with the upstream (gateway/).
  upstream_profile_unavailable: {
    status: 502,
    type: 'upstream_error',
    message: 'The shared account could not be prepared; try again shortly.',
  },
  conversation_list_unreadable: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_error',
    message: 'The conversation list could not be read.',
  },
  sentinel_failed: {
    status: 403,
    type: 'upstream_error',
    message: 'The gateway could not pass the upstream sentinel for this conversation.',
  },
  upstream_body_too_large: { status: 502, type: 'upstream_error', message: 'The upstream answer is too large to rewrite.' },
  upstream_encoding_unsupported: {
    status: 502,
    type: 'upstream_error',
    message: "The upstream answered in a Content-Encoding the gateway cannot decode ('{encoding}'), so it cannot pass the answer on.",
  },
  upstream_body_undecodable: {
    status: 502,
    type: 'upstream_error',
    message: "The upstream answer does not decode as its Content-Encoding ('{encoding}') says.",
  },
  upstream_partial_text: {
    status: 502,
    type: 'upstream_error',
    message: 'The upstream answered a range of a text body, which cannot be rewritten for this session: ask for the whole body.',
  },
  upstream_host_unreachable: {
    status: 502,
    type: 'upstream_error',
    code: 'upstream_unreachable',
    message: 'The upstream {host} host could not be reached.',
  },

  // The answer itself did not meet the request's contract after the corrective round (answer-contract.ts).
  invalid_tool_call: { status: 502, type: 'upstream_error', message: '{problem}{suffix}' },
  missing_tool_call: { status: 502, type: 'upstream_error', message: '{problem}{suffix}' },
  invalid_structured_output: { status: 502, type: 'upstream_error', message: '{problem}{suffix}' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorName = keyof typeof ERROR_CATALOG;

type Placeholders<T extends string> = T extends `${string}{${infer Name}}${infer Rest}` ? Name | Placeholders<Rest> : never;
type RequiredNames<N> = N extends `${string}?` ? never : N;
type OptionalNames<N> = N extends `${infer Name}?` ? Name : never;
type Value = string | number;

/** The named parameters an entry's message needs, read from its template. */
export type ErrorParams<Name extends ErrorName> = { [K in RequiredNames<Placeholders<(typeof ERROR_CATALOG)[Name]['message']>>]: Value } & {
  [K in OptionalNames<Placeholders<(typeof ERROR_CATALOG)[Name]['message']>>]?: Value;
};

/** Entries whose message has exactly these parameters (e.g. every "Invalid value for '{param}': {problem}." entry). */
export type ErrorNameWith<Params> = {
  [N in ErrorName]: ErrorParams<N> extends Params ? (Params extends ErrorParams<N> ? N : never) : never;
}[ErrorName];

export function catalogEntry(name: ErrorName): CatalogEntry {
  return ERROR_CATALOG[name];
}

/** Fills a template: `{name}` and `{name?}` become the parameter (an absent optional one, nothing). */
export function renderMessage(template: string, params: Record<string, Value | undefined>): string {
  return template.replace(/\{(\w+)\??\}/g, (_match, name: string) => {
    const value = params[name];
    return value === undefined ? '' : String(value);
  });
}
