import { validateSync } from 'class-validator';
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { AppConfig, ConfigKind, ENV_VARIABLES, LOG_LEVEL_ALIASES } from './app-config';
import { refreshCronProblem } from './cron-expression';
import { RESERVED_ROUTES } from './reserved-routes';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'y', 't', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'n', 'f', 'off']);
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SECRET_VARIABLES = new Set(['AUTHORIZATION', 'AUTH_KEY', 'ADMIN_KEY', 'API_PREFIX', 'REDIS_URL', 'SESSION_SECRET']);
/** A URL that carries credentials: a user name or password, or a query parameter named like a secret. */
const URL_WITH_CREDENTIALS = /:\/\/[^\s]*@|[?&][^=&\s]*(pass|pwd|token|secret|key|auth|credential)[^=&\s]*=/i;

/**
 * A value as a config error may print it: not at all for secrets, proxies (a proxy written without its scheme,
 * `user:password@host:1080`, is still a password) and any value with a URL that carries credentials, whatever
 * the variable; a bad value is often one whose URL cannot be parsed, so nothing of it is shown.
 */
function shownValue(env: string, raw: string): string {
  const secret = SECRET_VARIABLES.has(env) || /(^|_)PROXY_URL$/.test(env) || URL_WITH_CREDENTIALS.test(raw);
  return secret ? '<hidden>' : JSON.stringify(raw);
}

function parseValue(env: string, kind: ConfigKind, raw: string): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'string':
      return text;
    case 'choice':
      return text.toLowerCase();
    case 'int': {
      if (!/^-?\d+$/.test(text)) throw new ConfigError(`${env}=${shownValue(env, raw)} is not an integer`);
      return Number(text);
    }
    case 'bool': {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      throw new ConfigError(`${env}=${shownValue(env, raw)} is not a boolean (use true/false, 1/0, yes/no)`);
    }
    case 'list':
      return parseList(env, raw);
    case 'size': {
      const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(text);
      if (!match) throw new ConfigError(`${env}=${shownValue(env, raw)} is not a size (e.g. 32mb, 512kb, 1048576)`);
      return Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()];
    }
  }
}

/**
 * A list: a JSON array; the reference's Python-style literal (`['a', 'b']`); one value a line; or a comma list, split
 * only at commas outside parentheses, since every browser user agent holds one in its "(KHTML, like Gecko)".
 */
function parseList(env: string, raw: string): string[] {
  const text = raw.trim();
  // `[` then a quote (or `]`): a list literal. `[::1]:5005` (ALLOWED_HOSTS) is a value of a plain list.
  if (/^\[\s*(["']|\])/.test(text)) {
    const items = jsonArray(text) ?? quotedList(text);
    if (!items) throw new ConfigError(`${env}=${shownValue(env, raw)} is not a readable list: write a JSON array such as ["a", "b"]`);
    return items.map((item) => item.trim()).filter(Boolean);
  }
  // Each line is a comma list too: a quoted value may run over several lines (`"a,\nb"`).
  const items = text.split('\n').flatMap(splitOutsideParentheses);
  return items.map((item) => item.trim()).filter(Boolean);
}

function jsonArray(text: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.map((item) => String(item)) : undefined;
  } catch {
    return undefined;
  }
}

/** One string of a Python-style list, in single or double quotes (a backslash escapes the next character), and what follows it. */
const QUOTED_ITEM = /\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|\])/y;

/** `['a', "b",]`, or undefined when the text is not such a list. */
function quotedList(text: string): string[] | undefined {
  const items: string[] = [];
  let at = 1;
  while (!/^\s*\]$/.test(text.slice(at))) {
    QUOTED_ITEM.lastIndex = at;
    const match = QUOTED_ITEM.exec(text);
    if (!match) return undefined;
    items.push((match[1] ?? match[2]).replace(/\\(.)/g, '$1'));
    at = QUOTED_ITEM.lastIndex;
    if (match[3] === ']') return at === text.length ? items : undefined;
  }
  return items;
}

/** Commas inside balanced parentheses are part of a value; with unbalanced ones (a `(` in a key), every comma splits. */
function splitOutsideParentheses(text: string): string[] {
  if (!parenthesesBalance(text)) return text.split(',');
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}

function parenthesesBalance(text: string): boolean {
  let depth = 0;
  for (const char of text) {
    if (char === '(') depth++;
    else if (char === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/** The variables of an env file (`.env`), or none when there is no such file. */
export function readEnvFile(envFile = '.env'): Record<string, string | undefined> {
  try {
    if (!existsSync(envFile)) return {};
    // An editor's byte order mark (Windows Notepad) would otherwise become part of the first variable's name.
    return parseEnv(readFileSync(envFile, 'utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(`${envFile} cannot be read: ${(error as Error).message}`);
  }
}

/**
 * The variables the server starts with: `.env` in the working directory (when there is one), overridden by
 * the process environment. Read here only; nothing else reads `.env` or `process.env`.
 */
export function readEnvironment(envFile = '.env'): Record<string, string | undefined> {
  return { ...readEnvFile(envFile), ...process.env };
}

/**
 * The reference's curl_cffi settings, which have no equivalent here (README, "Upstream"), and its CHECK_MODEL, which
 * it parsed but never used.
 */
const REFERENCE_ONLY_VARIABLES = new Set(['IMPERSONATE', 'DEVICE_TUPLE', 'BROWSER_TUPLE', 'PLATFORM_TUPLE', 'CHECK_MODEL']);

/**
 * The names Kubernetes (and Docker's links) give a container for each service it can reach: `<SERVICE>_PORT`,
 * `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_80_TCP_ADDR`, …. None of ours has this shape, and a service called `file`
 * would otherwise read as a near miss of FILE_HOST.
 */
const SERVICE_LINK = /^[A-Z0-9_]+_(?:PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:ADDR|PORT|PROTO))?)?|SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?)$/;

/**
 * One warning for each name that we do not read although it looks meant for us: a setting of the reference we have
 * no use for, or a near miss of one of our names (`RETRY_TIME`), which would otherwise leave its default in place
 * without a word. `source` says where the names come from (an env file, or "the environment"); values never show.
 */
export function unreadVariableWarnings(names: readonly string[], source = '.env'): string[] {
  const known = [...Object.values(ENV_VARIABLES).map((variable) => variable.env), 'ARK0SE_TOKEN_URL'];
  const warnings: string[] = [];
  for (const name of names) {
    if (known.includes(name) || SERVICE_LINK.test(name)) continue;
    if (REFERENCE_ONLY_VARIABLES.has(name)) {
      warnings.push(`${source} sets ${name}, a setting of the reference that FlowGPT does not read`);
      continue;
    }
    // Short names are too close to other programs' (HOST is one letter from PORT): only longer ones are compared.
    const meant = known.find(
      (candidate) => candidate.length >= 6 && editDistance(name.toUpperCase(), candidate) <= (candidate.length > 8 ? 2 : 1),
    );
    if (meant) warnings.push(`${source} sets ${name}, which FlowGPT does not read: did you mean ${meant}?`);
  }
  return warnings;
}

/**
 * The start-up's warnings about unread names, of `.env` and of the process environment (`docker run -e`, a compose
 * file's `environment:`), which no one else checks. A name set in both is named once, as the file's. The process
 * environment also holds the shell's and the orchestrator's names: only near misses of ours and the reference's
 * settings are named, by the same rule as the file's.
 */
export function variableNameWarnings(envFile = '.env', environment: Record<string, string | undefined> = process.env): string[] {
  const fileNames = Object.keys(readEnvFile(envFile));
  const processNames = Object.keys(environment).filter((name) => !fileNames.includes(name));
  return [...unreadVariableWarnings(fileNames, envFile), ...unreadVariableWarnings(processNames, 'the environment')];
}

/** Levenshtein distance: the insertions, deletions and substitutions that turn one name into the other. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/**
 * Builds the validated configuration from environment variables (by default `.env` and the process
 * environment, see `readEnvironment`). An unset or empty variable keeps its default; any bad value throws a
 * ConfigError naming the variable, so every value is checked before anything starts.
 */
export function loadConfig(rawEnv: Record<string, string | undefined> = readEnvironment()): AppConfig {
  // The reference also reads a misspelt ARK0SE_TOKEN_URL (a zero for the O); honour it when the right name is unset.
  const env: Record<string, string | undefined> = { ...rawEnv, ARKOSE_TOKEN_URL: rawEnv.ARKOSE_TOKEN_URL || rawEnv.ARK0SE_TOKEN_URL };
  const config = new AppConfig();
  const target = config as unknown as Record<string, unknown>;
  for (const [property, { env: name, kind }] of Object.entries(ENV_VARIABLES)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = parseValue(name, kind, raw);
    target[property] = name.endsWith('_URL') ? withLowerCaseScheme(value) : value;
  }
  config.chatgptBaseUrl = config.chatgptBaseUrl.map(stripTrailingSlash);
  config.authBaseUrl = stripTrailingSlash(config.authBaseUrl);
  // Start-up lines and links add `/v1`, `/admin`, `/files/…` to it.
  if (config.publicUrl) config.publicUrl = stripTrailingSlash(config.publicUrl);
  config.powDifficulty = config.powDifficulty.toLowerCase();
  config.logLevel = LOG_LEVEL_ALIASES.get(config.logLevel) ?? config.logLevel;

  const [first] = validateSync(config, { forbidUnknownValues: true });
  if (first) {
    const variable = ENV_VARIABLES[first.property as keyof AppConfig];
    const name = variable?.env ?? first.property;
    const constraint = Object.values(first.constraints ?? {})[0] ?? 'has a bad value';
    // class-validator names the property ("each value in sentinelProxyUrl must be …"): the operator knows the variable.
    const reason = constraint.replace(new RegExp(`^(each value in )?${first.property} `), (_match, each?: string) =>
      each ? 'each value ' : '',
    );
    const raw = env[name] ?? String(first.value);
    throw new ConfigError(`${name}=${shownValue(name, raw)} is invalid: ${reason}`);
  }
  if (config.publicUrl && /[?#]/.test(config.publicUrl)) {
    throw new ConfigError(
      `PUBLIC_URL=${shownValue('PUBLIC_URL', env.PUBLIC_URL ?? config.publicUrl)} is invalid: must have no query (?…) or fragment (#…): links are made by adding a path to it`,
    );
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(
      `HEADERS_TIMEOUT_MS=${config.headersTimeoutMs} is invalid: must not exceed REQUEST_TIMEOUT_MS=${config.requestTimeoutMs}`,
    );
  }
  const { filesMaxBytes, filesMaxOwnerBytes, filesMaxTotalBytes } = config;
  if (filesMaxBytes > filesMaxOwnerBytes) {
    throw new ConfigError(
      `FILES_MAX_SIZE=${filesMaxBytes} is invalid: must not exceed FILES_MAX_OWNER_SIZE=${filesMaxOwnerBytes}, nor that FILES_MAX_TOTAL_SIZE=${filesMaxTotalBytes}`,
    );
  }
  if (filesMaxOwnerBytes > filesMaxTotalBytes) {
    throw new ConfigError(
      `FILES_MAX_OWNER_SIZE=${filesMaxOwnerBytes} is invalid: must not exceed FILES_MAX_TOTAL_SIZE=${filesMaxTotalBytes}`,
    );
  }
  if (config.chatgptBaseUrl.length === 0) throw new ConfigError('CHATGPT_BASE_URL must name at least one URL');
  for (const url of config.chatgptBaseUrl) {
    // Every call appends its own /backend-api/… (or /backend-anon/…): given here too, it would be there twice.
    const root = /\/(backend-api|backend-anon)$/i.exec(new URL(url).pathname)?.[0];
    if (root) {
      const host = url.slice(0, url.length - root.length);
      throw new ConfigError(
        `CHATGPT_BASE_URL=${shownValue('CHATGPT_BASE_URL', url)} is invalid: name the host without ${root} (${shownValue('CHATGPT_BASE_URL', host)}); FlowGPT adds ${root}/… itself`,
      );
    }
  }
  if (config.upstreamFirstByteTimeoutMs >= config.upstreamIdleTimeoutMs) {
    throw new ConfigError(
      `UPSTREAM_FIRST_BYTE_TIMEOUT_MS=${config.upstreamFirstByteTimeoutMs} must be shorter than UPSTREAM_IDLE_TIMEOUT_MS=${config.upstreamIdleTimeoutMs}`,
    );
  }
  // A pool key equal to ADMIN_KEY makes every API client an admin. API_PREFIX as the admin secret (no ADMIN_KEY, the
  // reference's way) is not compared: every API client sends it in each URL already, so a pool key equal to it gives
  // them nothing more, and refusing it would stop the reference's one-secret set-up.
  if (config.adminKey && config.authorization.includes(config.adminKey)) {
    throw new ConfigError(
      'AUTHORIZATION=<hidden> is invalid: one of its keys is the admin secret (ADMIN_KEY), so every API client holding it could open the admin: give them different values',
    );
  }
  if (config.apiPrefix && RESERVED_ROUTES.has(config.apiPrefix.toLowerCase())) {
    throw new ConfigError(`API_PREFIX=<hidden> collides with a route of ours (${[...RESERVED_ROUTES].join(', ')})`);
  }
  const cronProblem = refreshCronProblem(config.refreshCron);
  if (cronProblem) throw new ConfigError(cronProblem);
  return config;
}

/**
 * A URL's scheme in lower case (`SOCKS5://` → `socks5://`): schemes are case-insensitive, and the code that picks a
 * transport or an agent by scheme (`https:`, `socks…`) need not be told.
 */
function withLowerCaseScheme(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withLowerCaseScheme);
  return typeof value === 'string' ? value.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, (scheme) => scheme.toLowerCase()) : value;
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
