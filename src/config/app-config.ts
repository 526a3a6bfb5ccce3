import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import { isIP } from 'node:net';
import { API_PREFIX_SHAPE } from './reserved-routes';

/** Host names may hold underscores: Docker Compose names services and containers so (`warp_proxy`), and resolves them. */
const HOST_NAME_OPTIONS = { require_tld: false, require_protocol: true, allow_underscores: true };
/** A kind of URL: the schemes it takes, and an example for the error that refuses one (a missing scheme is the usual mistake). */
interface UrlKind {
  protocols: string[];
  example: string;
}
const WEB_URL: UrlKind = { protocols: ['http', 'https'], example: 'https://chat.example.com' };
const PROXY_URL: UrlKind = {
  protocols: ['http', 'https', 'socks', 'socks4', 'socks4a', 'socks5', 'socks5h'],
  example: 'http://127.0.0.1:7890 or socks5://user:password@proxy.example.com:1080',
};
const REDIS_URL: UrlKind = { protocols: ['redis', 'rediss'], example: 'redis://127.0.0.1:6379/0' };

/** `IsUrl` whose message names the schemes it takes and gives an example, where class-validator says "must be a URL address". */
function IsUrlOf({ protocols, example }: UrlKind, validation: ValidationOptions = {}): PropertyDecorator {
  const schemes = protocols.map((protocol) => `${protocol}://`);
  const accepted = `${schemes.slice(0, -1).join(', ')} or ${schemes[schemes.length - 1]}`;
  const message = `${validation.each ? 'each value ' : ''}must be a URL starting with ${accepted} (e.g. ${example})`;
  return IsUrl({ ...HOST_NAME_OPTIONS, protocols }, { ...validation, message });
}

const HOST_PATTERN = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
/** A Host header value: a name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST_HEADER_PATTERN = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
/** The address groups Express's `trust proxy` knows by name. */
const PROXY_GROUPS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address, a CIDR range (`10.0.0.0/8`, `fd00::/8`) or one of Express's groups (`loopback`). */
export function isProxyAddress(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (PROXY_GROUPS.has(value)) return true;
  const [address, bits, extra] = value.split('/');
  const family = isIP(address);
  if (!family || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function IsProxyAddress(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isProxyAddress',
      validator: { validate: isProxyAddress, defaultMessage: () => 'must list IP addresses or CIDR ranges (e.g. 127.0.0.1, 10.0.0.0/8)' },
    },
    options,
  );
}

/** The longest delay a Node timer takes (2^31-1 ms, about 24.8 days): a longer one is armed as 1 ms and fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds that end up in a timer: an integer from `min` up to `MAX_TIMER_MS`. */
function IsTimerMs(min: number): PropertyDecorator {
  const checks = [
    IsInt(),
    Min(min),
    Max(MAX_TIMER_MS, { message: `must be at most ${MAX_TIMER_MS} (about 24.8 days), the longest delay a timer takes` }),
  ];
  return (target, property) => checks.forEach((check) => check(target, property));
}

export const REASONING_OUTPUT_MODES = ['reasoning_content', 'think', 'hidden'] as const;
export type ReasoningOutputMode = (typeof REASONING_OUTPUT_MODES)[number];

/** `UPSTREAM_FLOW`: the new `f/conversation` send flow, the classic `/conversation` one, or the new with a fallback. */
export const UPSTREAM_FLOWS = ['auto', 'f', 'classic'] as const;
export type UpstreamFlowSetting = (typeof UPSTREAM_FLOWS)[number];
/** `UPSTREAM_HTTP2`: offer HTTP/2 by ALPN on https upstreams (`auto`), or speak HTTP/1.1 only. */
export const UPSTREAM_HTTP2_MODES = ['auto', 'off'] as const;
export type UpstreamHttp2Mode = (typeof UPSTREAM_HTTP2_MODES)[number];
export const CF_CLEARANCE_HELPERS = ['off', 'chromium'] as const;
export type CfClearanceHelper = (typeof CF_CLEARANCE_HELPERS)[number];

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
/** Other loggers' names of Nest's levels (pino's and winston's `info`, Python's `warning`), read as Nest's. */
export const LOG_LEVEL_ALIASES: ReadonlyMap<string, LogLevelName> = new Map([
  ['info', 'log'],
  ['warning', 'warn'],
]);

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The whole configuration, read once at boot from the environment (and `.env`).
 * Property names are the camelCase of the variable; `ENV_VARIABLES` maps them back for error messages.
 */
export class AppConfig {
  // --- server
  @IsInt() @Min(0) @Max(65535) port = 5005;
  @IsIn(LOG_LEVELS, { message: `$property must be one of the following values: ${LOG_LEVELS.join(', ')} (info is log, warning is warn)` })
  logLevel: LogLevelName = 'log';
  @IsOptional() @IsUrlOf(WEB_URL) publicUrl?: string;
  /** Largest body of the routes that take attachments or uploads (chat completions, token uploads). */
  @IsInt() @Min(1024) @Max(512 * 1024 * 1024) maxBodyBytes = 32 * 1024 * 1024;
  /** Bytes all images and files of one request may take, sent inline and fetched from URLs together. */
  @IsInt() @Min(1024) @Max(2 * 1024 * 1024 * 1024) maxAttachmentsBytes = 50 * 1024 * 1024;
  /** Largest body of every other route. */
  @IsInt() @Min(1024) @Max(512 * 1024 * 1024) maxSmallBodyBytes = 1024 * 1024;
  /** Open client connections at most; more are closed at once, so that the process keeps file descriptors. */
  @IsInt() @Min(1) maxConnections = 10_000;
  /**
   * Time a client has to send the request headers (also cuts connections that send nothing). Like
   * `requestTimeoutMs`, never a timer: Node compares it with the connection's age, so it has no timer cap.
   */
  @IsInt() @Min(100) headersTimeoutMs = 20_000;
  /** Time a client has to send the whole request, body included; never limits the answer (an SSE stream). */
  @IsInt() @Min(100) requestTimeoutMs = 300_000;
  /** How long an idle keep-alive connection stays open between requests. */
  @IsTimerMs(100) httpKeepAliveTimeoutMs = 5_000;
  /** Peers whose X-Forwarded-For/-Host/-Proto are believed; empty: nobody's. */
  @IsProxyAddress({ each: true }) trustedProxies: string[] = [];
  /** Host header values that name this server (for the admin's same-origin check); empty: any. */
  @Matches(HOST_HEADER_PATTERN, { each: true, message: 'must list host[:port] values without a scheme' }) allowedHosts: string[] = [];
  @IsString() dataDir = './data';
  @IsOptional() @IsUrlOf(REDIS_URL) redisUrl?: string;
  @IsString() redisPrefix = 'flowgpt:';
  @IsInt() @Min(100) @Max(60_000) redisCommandTimeoutMs = 2_000;
  /** With `REDIS_URL`: copy the file store's pool under `DATA_DIR` into a Redis pool without accounts, once. */
  @IsBoolean() importFilePool = false;

  // --- operations
  @IsIn(LOG_FORMATS) logFormat: LogFormat = 'text';
  @IsBoolean() metricsEnabled = false;
  @IsInt() @Min(0) @Max(10 * 60_000) shutdownGraceMs = 30_000;

  // --- security
  @IsOptional()
  @Matches(API_PREFIX_SHAPE, { message: 'must be one path segment of letters, digits, . _ ~ -' })
  apiPrefix?: string;
  /** Pool keys, each compared with what a client sends after `Authorization: Bearer `. */
  @IsString({ each: true })
  @Matches(/^(?!bearer\s)/i, {
    each: true,
    message: 'must list each key without "Bearer " in front: clients send it as Authorization: Bearer <key>',
  })
  @Matches(/^[\x20-\x7e]+$/, {
    each: true,
    message: 'must be printable ASCII: clients send each key in an HTTP header, which carries no other characters as written',
  })
  authorization: string[] = [];
  @IsOptional() @IsString() @MinLength(1) authKey?: string;
  @IsOptional() @IsString() @MinLength(8, { message: 'must be at least 8 characters' }) adminKey?: string;
  @IsOptional() @IsString() @MinLength(32, { message: 'must be at least 32 characters' }) sessionSecret?: string;

  // --- upstream
  @IsUrlOf(WEB_URL, { each: true }) chatgptBaseUrl: string[] = ['https://chatgpt.com'];
  @IsUrlOf(WEB_URL) authBaseUrl = 'https://auth0.openai.com';
  @IsString() refreshClientId = 'pdlLIX2Y72MIl2rhLhTE9VV9bN905kBh';
  @IsString() refreshRedirectUri = 'com.openai.chat://auth0.openai.com/ios/com.openai.chat/callback';
  @IsUrlOf(PROXY_URL, { each: true }) proxyUrl: string[] = [];
  @IsUrlOf(PROXY_URL, { each: true }) sentinelProxyUrl: string[] = [];
  @IsOptional() @IsUrlOf(PROXY_URL) exportProxyUrl?: string;
  @IsOptional() @IsUrlOf(WEB_URL) cfFileUrl?: string;
  @IsOptional() @IsUrlOf(WEB_URL) turnstileSolverUrl?: string;
  @IsOptional() @IsUrlOf(WEB_URL) arkoseTokenUrl?: string;
  @IsString({ each: true })
  @Matches(/^[\x20-\x7e]+$/, { each: true, message: 'must be printable ASCII: each is sent as a User-Agent header' })
  userAgents: string[] = [];
  @IsString() oaiLanguage = 'zh-CN';
  @IsTimerMs(100) upstreamConnectTimeoutMs = 10_000;
  @IsTimerMs(100) upstreamIdleTimeoutMs = 120_000;
  @IsTimerMs(100) upstreamFirstByteTimeoutMs = 30_000;
  /**
   * How long an upstream connection with no call on it is kept for the next one (a server's shorter `Keep-Alive`
   * wins). Never a bound on a call: connecting, waiting and streaming have the three timeouts above.
   */
  @IsTimerMs(100) upstreamKeepAliveTimeoutMs = 60_000;
  @IsBoolean() upstreamDeltaEncoding = true;
  /** Connections per upstream route and pool (short calls, streamed answers) at most; 0: no limit. */
  @IsInt() @Min(0) upstreamMaxSockets = 0;
  /** Idle keep-alive connections kept per route and pool, so a burst does not pay a new handshake each. */
  @IsInt() @Min(0) upstreamMaxFreeSockets = 256;
  @IsIn(UPSTREAM_HTTP2_MODES) upstreamHttp2: UpstreamHttp2Mode = 'auto';
  /** PEM file of CA certificates trusted for the upstream besides Node's own (a relay with a private CA). */
  @IsOptional() @IsString() @MinLength(1) upstreamCaFile?: string;
  /** Which send flow to use (README, "Upstream"): `auto` tries `f` and falls back to `classic` per account. */
  @IsIn(UPSTREAM_FLOWS) upstreamFlow: UpstreamFlowSetting = 'auto';
  @IsBoolean() allowPrivateFileUrls = false;
  /** Who passes a Cloudflare challenge: nobody (the client gets `cf_challenge`), or headless Chromium. */
  @IsIn(CF_CLEARANCE_HELPERS) cfClearance: CfClearanceHelper = 'off';
  @IsString() @MinLength(1) chromiumPath = '/usr/bin/chromium';
  /** Time one Chromium solve has to obtain the `cf_clearance` cookie, launch included. */
  @IsInt() @Min(1000) @Max(10 * 60_000) cfClearanceTimeoutMs = 30_000;

  // --- chat behaviour
  @IsBoolean() historyDisabled = true;
  @Matches(/^[0-9a-fA-F]{2,16}$/, { message: 'must be a hex string such as 000032' }) powDifficulty = '000032';
  @IsInt() @Min(0) @Max(32) powWorkers = 0;
  @IsBoolean() conversationOnly = false;
  @IsInt() @Min(0) @Max(20) retryTimes = 3;
  @IsBoolean() enableLimit = true;
  @IsBoolean() uploadByUrl = false;
  @IsIn(REASONING_OUTPUT_MODES) reasoningOutput: ReasoningOutputMode = 'reasoning_content';
  @IsTimerMs(1000) keepAliveIntervalMs = 15_000;
  @IsInt() @Min(1) responsesStoreMax = 1000;
  @IsInt() @Min(1) responsesStoreTtlSec = 86_400;
  /** Largest file `POST /v1/files` takes. */
  @IsInt() @Min(1) @Max(512 * 1024 * 1024) filesMaxBytes = 32 * 1024 * 1024;
  /** Bytes the uploaded files of one API key may take in all. */
  @IsInt() @Min(1) filesMaxOwnerBytes = 256 * 1024 * 1024;
  /** Bytes the uploaded files of every API key may take together: a bound on the disk any number of keys can fill. */
  @IsInt() @Min(1) filesMaxTotalBytes = 4 * 1024 * 1024 * 1024;

  // --- pool
  @IsBoolean() randomToken = true;
  @IsBoolean() autoSeed = true;
  @IsInt() @Min(1) maxSeeds = 10_000;
  @IsBoolean() scheduledRefresh = false;
  @IsString() refreshCron = '0 3 * * *';
  @IsInt() @Min(0) @Max(365) refreshIntervalDays = 4;
  @IsInt() @Min(1) @Max(32) refreshConcurrency = 3;

  // --- gateway
  @IsBoolean() enableGateway = false;
  @IsBoolean() enableHomepage = false;
  @IsBoolean() forceNoHistory = false;
  // Validated whatever ENABLE_GATEWAY says; the browser gateway acts on them only when it is on (FILE_HOST is also
  // the host of the API's /files/… links).
  @IsBoolean() noSentinel = false;
  @IsOptional() @IsString() xSign?: string;
  @IsOptional() @Matches(HOST_PATTERN, { message: 'must be host[:port] without a scheme' }) fileHost?: string;
  @IsOptional() @Matches(HOST_PATTERN, { message: 'must be host[:port] without a scheme' }) voiceHost?: string;
  @IsOptional() @Matches(HOST_PATTERN, { message: 'must be host[:port] without a scheme' }) sandboxHost?: string;
  @IsBoolean() enableDebugSidebar = true;
  @IsUrlOf(WEB_URL) cdnBaseUrl = 'https://cdn.oaistatic.com';
  @IsUrlOf(WEB_URL) filesBaseUrl = 'https://files.oaiusercontent.com';
  @IsUrlOf(WEB_URL) statsigBaseUrl = 'https://ab.chatgpt.com';
  @IsOptional() @IsUrlOf(WEB_URL) sandboxBaseUrl?: string;
  @IsUrlOf(WEB_URL) gravatarBaseUrl = 'https://s.gravatar.com';
  /** Voice previews (`/voice/previews/…`, gateway.md §5.3). */
  @IsUrlOf(WEB_URL) persistentBaseUrl = 'https://persistent.oaistatic.com';
}

/** `choice`: one word of a fixed set, read in any case (`WARN` is `warn`), as booleans are. */
export type ConfigKind = 'string' | 'choice' | 'int' | 'bool' | 'list' | 'size';

/** Every variable we read, with how its text is parsed. */
export const ENV_VARIABLES: Record<keyof AppConfig, { env: string; kind: ConfigKind }> = {
  port: { env: 'PORT', kind: 'int' },
  logLevel: { env: 'LOG_LEVEL', kind: 'choice' },
  publicUrl: { env: 'PUBLIC_URL', kind: 'string' },
  maxBodyBytes: { env: 'MAX_BODY_SIZE', kind: 'size' },
  maxAttachmentsBytes: { env: 'MAX_ATTACHMENTS_SIZE', kind: 'size' },
  maxSmallBodyBytes: { env: 'MAX_SMALL_BODY_SIZE', kind: 'size' },
  maxConnections: { env: 'MAX_CONNECTIONS', kind: 'int' },
  headersTimeoutMs: { env: 'HEADERS_TIMEOUT_MS', kind: 'int' },
  requestTimeoutMs: { env: 'REQUEST_TIMEOUT_MS', kind: 'int' },
  httpKeepAliveTimeoutMs: { env: 'HTTP_KEEPALIVE_TIMEOUT_MS', kind: 'int' },
  trustedProxies: { env: 'TRUSTED_PROXIES', kind: 'list' },
  allowedHosts: { env: 'ALLOWED_HOSTS', kind: 'list' },
  dataDir: { env: 'DATA_DIR', kind: 'string' },
  redisUrl: { env: 'REDIS_URL', kind: 'string' },
  redisPrefix: { env: 'REDIS_PREFIX', kind: 'string' },
  redisCommandTimeoutMs: { env: 'REDIS_COMMAND_TIMEOUT_MS', kind: 'int' },
  importFilePool: { env: 'IMPORT_FILE_POOL', kind: 'bool' },
  logFormat: { env: 'LOG_FORMAT', kind: 'choice' },
  metricsEnabled: { env: 'METRICS_ENABLED', kind: 'bool' },
  shutdownGraceMs: { env: 'SHUTDOWN_GRACE_MS', kind: 'int' },
  apiPrefix: { env: 'API_PREFIX', kind: 'string' },
  authorization: { env: 'AUTHORIZATION', kind: 'list' },
  authKey: { env: 'AUTH_KEY', kind: 'string' },
  adminKey: { env: 'ADMIN_KEY', kind: 'string' },
  sessionSecret: { env: 'SESSION_SECRET', kind: 'string' },
  chatgptBaseUrl: { env: 'CHATGPT_BASE_URL', kind: 'list' },
  authBaseUrl: { env: 'AUTH_BASE_URL', kind: 'string' },
  refreshClientId: { env: 'REFRESH_CLIENT_ID', kind: 'string' },
  refreshRedirectUri: { env: 'REFRESH_REDIRECT_URI', kind: 'string' },
  proxyUrl: { env: 'PROXY_URL', kind: 'list' },
  sentinelProxyUrl: { env: 'SENTINEL_PROXY_URL', kind: 'list' },
  exportProxyUrl: { env: 'EXPORT_PROXY_URL', kind: 'string' },
  cfFileUrl: { env: 'CF_FILE_URL', kind: 'string' },
  turnstileSolverUrl: { env: 'TURNSTILE_SOLVER_URL', kind: 'string' },
  arkoseTokenUrl: { env: 'ARKOSE_TOKEN_URL', kind: 'string' },
  userAgents: { env: 'USER_AGENTS', kind: 'list' },
  oaiLanguage: { env: 'OAI_LANGUAGE', kind: 'string' },
  upstreamConnectTimeoutMs: { env: 'UPSTREAM_CONNECT_TIMEOUT_MS', kind: 'int' },
  upstreamIdleTimeoutMs: { env: 'UPSTREAM_IDLE_TIMEOUT_MS', kind: 'int' },
  upstreamFirstByteTimeoutMs: { env: 'UPSTREAM_FIRST_BYTE_TIMEOUT_MS', kind: 'int' },
  upstreamKeepAliveTimeoutMs: { env: 'UPSTREAM_KEEPALIVE_TIMEOUT_MS', kind: 'int' },
  upstreamDeltaEncoding: { env: 'UPSTREAM_DELTA_ENCODING', kind: 'bool' },
  upstreamMaxSockets: { env: 'UPSTREAM_MAX_SOCKETS', kind: 'int' },
  upstreamMaxFreeSockets: { env: 'UPSTREAM_MAX_FREE_SOCKETS', kind: 'int' },
  upstreamHttp2: { env: 'UPSTREAM_HTTP2', kind: 'choice' },
  upstreamCaFile: { env: 'UPSTREAM_CA_FILE', kind: 'string' },
  upstreamFlow: { env: 'UPSTREAM_FLOW', kind: 'choice' },
  allowPrivateFileUrls: { env: 'ALLOW_PRIVATE_FILE_URLS', kind: 'bool' },
  cfClearance: { env: 'CF_CLEARANCE', kind: 'choice' },
  chromiumPath: { env: 'CHROMIUM_PATH', kind: 'string' },
  cfClearanceTimeoutMs: { env: 'CF_CLEARANCE_TIMEOUT_MS', kind: 'int' },
  historyDisabled: { env: 'HISTORY_DISABLED', kind: 'bool' },
  powDifficulty: { env: 'POW_DIFFICULTY', kind: 'string' },
  powWorkers: { env: 'POW_WORKERS', kind: 'int' },
  conversationOnly: { env: 'CONVERSATION_ONLY', kind: 'bool' },
  retryTimes: { env: 'RETRY_TIMES', kind: 'int' },
  enableLimit: { env: 'ENABLE_LIMIT', kind: 'bool' },
  uploadByUrl: { env: 'UPLOAD_BY_URL', kind: 'bool' },
  reasoningOutput: { env: 'REASONING_OUTPUT', kind: 'choice' },
  keepAliveIntervalMs: { env: 'KEEPALIVE_INTERVAL_MS', kind: 'int' },
  responsesStoreMax: { env: 'RESPONSES_STORE_MAX', kind: 'int' },
  responsesStoreTtlSec: { env: 'RESPONSES_STORE_TTL_SEC', kind: 'int' },
  filesMaxBytes: { env: 'FILES_MAX_SIZE', kind: 'size' },
  filesMaxOwnerBytes: { env: 'FILES_MAX_OWNER_SIZE', kind: 'size' },
  filesMaxTotalBytes: { env: 'FILES_MAX_TOTAL_SIZE', kind: 'size' },
  randomToken: { env: 'RANDOM_TOKEN', kind: 'bool' },
  autoSeed: { env: 'AUTO_SEED', kind: 'bool' },
  maxSeeds: { env: 'MAX_SEEDS', kind: 'int' },
  scheduledRefresh: { env: 'SCHEDULED_REFRESH', kind: 'bool' },
  refreshCron: { env: 'REFRESH_CRON', kind: 'string' },
  refreshIntervalDays: { env: 'REFRESH_INTERVAL_DAYS', kind: 'int' },
  refreshConcurrency: { env: 'REFRESH_CONCURRENCY', kind: 'int' },
  enableGateway: { env: 'ENABLE_GATEWAY', kind: 'bool' },
  enableHomepage: { env: 'ENABLE_HOMEPAGE', kind: 'bool' },
  forceNoHistory: { env: 'FORCE_NO_HISTORY', kind: 'bool' },
  noSentinel: { env: 'NO_SENTINEL', kind: 'bool' },
  xSign: { env: 'X_SIGN', kind: 'string' },
  fileHost: { env: 'FILE_HOST', kind: 'string' },
  voiceHost: { env: 'VOICE_HOST', kind: 'string' },
  sandboxHost: { env: 'SANDBOX_HOST', kind: 'string' },
  enableDebugSidebar: { env: 'ENABLE_DEBUG_SIDEBAR', kind: 'bool' },
  cdnBaseUrl: { env: 'CDN_BASE_URL', kind: 'string' },
  filesBaseUrl: { env: 'FILES_BASE_URL', kind: 'string' },
  statsigBaseUrl: { env: 'STATSIG_BASE_URL', kind: 'string' },
  sandboxBaseUrl: { env: 'SANDBOX_BASE_URL', kind: 'string' },
  gravatarBaseUrl: { env: 'GRAVATAR_BASE_URL', kind: 'string' },
  persistentBaseUrl: { env: 'PERSISTENT_BASE_URL', kind: 'string' },
};
