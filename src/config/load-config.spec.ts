import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, readEnvironment, unreadVariableWarnings, variableNameWarnings } from './load-config';
import { RESERVED_ROUTES } from './reserved-routes';

describe('loadConfig', () => {
  it('uses the documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).toBe(5005);
    expect(config.chatgptBaseUrl).toEqual(['https://chatgpt.com']);
    expect(config.authBaseUrl).toBe('https://auth0.openai.com');
    expect(config.retryTimes).toBe(3);
    expect(config.historyDisabled).toBe(true);
    expect(config.randomToken).toBe(true);
    expect(config.upstreamDeltaEncoding).toBe(true);
    expect(config.dataDir).toBe('./data');
    expect(config.powDifficulty).toBe('000032');
    expect(config.authorization).toEqual([]);
  });

  it('parses booleans, integers, comma lists and sizes', () => {
    const config = loadConfig({
      PORT: '8080',
      HISTORY_DISABLED: 'no',
      RANDOM_TOKEN: '0',
      CONVERSATION_ONLY: 'YES',
      ENABLE_LIMIT: '1',
      AUTHORIZATION: ' key-a, key-b ,,',
      CHATGPT_BASE_URL: 'http://127.0.0.1:9000/, http://localhost:9001',
      MAX_BODY_SIZE: '2mb',
      USER_AGENTS: '["Mozilla/5.0 (X11, Linux)", "Other"]',
    });
    expect(config.port).toBe(8080);
    expect(config.historyDisabled).toBe(false);
    expect(config.randomToken).toBe(false);
    expect(config.conversationOnly).toBe(true);
    expect(config.enableLimit).toBe(true);
    expect(config.authorization).toEqual(['key-a', 'key-b']);
    expect(config.chatgptBaseUrl).toEqual(['http://127.0.0.1:9000', 'http://localhost:9001']);
    expect(config.maxBodyBytes).toBe(2 * 1024 * 1024);
    expect(config.userAgents).toEqual(['Mozilla/5.0 (X11, Linux)', 'Other']);
  });

  describe('lists', () => {
    const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
    const safari = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';
    const userAgents = (value: string) => loadConfig({ USER_AGENTS: value }).userAgents;

    // Every Chrome and Safari user agent holds a comma, in "(KHTML, like Gecko)".
    it('splits a comma list only at commas outside parentheses', () => {
      expect(userAgents(chrome)).toEqual([chrome]);
      expect(userAgents(`${chrome}, ${safari}`)).toEqual([chrome, safari]);
    });

    it("reads one value a line, a JSON array, and the reference's Python-style list", () => {
      expect(userAgents(`${chrome}\n${safari}\n`)).toEqual([chrome, safari]);
      expect(userAgents(JSON.stringify([chrome, safari]))).toEqual([chrome, safari]);
      expect(userAgents(`['${chrome}', '${safari}']`)).toEqual([chrome, safari]);
      expect(userAgents(`[\n  '${chrome}',\n  "${safari}",\n]`)).toEqual([chrome, safari]);
      expect(userAgents("['it\\'s', 'b']")).toEqual(["it's", 'b']);
    });

    it('refuses a list literal it cannot read, rather than cutting it into fragments', () => {
      expect(() => userAgents(`['${chrome}', '${safari}`)).toThrow(/^USER_AGENTS=.* is not a readable list/);
    });

    it('splits the lines of a quoted value at their commas too, and every comma when parentheses do not pair (found in review)', () => {
      expect(loadConfig({ AUTHORIZATION: 'sk-one,\nsk-two' }).authorization).toEqual(['sk-one', 'sk-two']);
      expect(userAgents(`${chrome},\n${safari}`)).toEqual([chrome, safari]);
      expect(loadConfig({ AUTHORIZATION: 'key(1,key2,key3' }).authorization).toEqual(['key(1', 'key2', 'key3']);
      expect(loadConfig({ PROXY_URL: 'http://u:pa(ss@a.example:8080,http://b.example:8080' }).proxyUrl).toEqual([
        'http://u:pa(ss@a.example:8080',
        'http://b.example:8080',
      ]);
    });

    it('keeps a bracketed IPv6 host a value of a plain list', () => {
      expect(loadConfig({ ALLOWED_HOSTS: '[::1]:5005, localhost' }).allowedHosts).toEqual(['[::1]:5005', 'localhost']);
    });
  });

  it('reads URL schemes in any letter case', () => {
    const config = loadConfig({
      PROXY_URL: 'SOCKS5://user:pass@127.0.0.1:1080, Http://127.0.0.1:3128',
      CHATGPT_BASE_URL: 'HTTPS://chatgpt.example.com',
      PUBLIC_URL: 'HTTPS://gw.example.com',
    });
    expect(config.proxyUrl).toEqual(['socks5://user:pass@127.0.0.1:1080', 'http://127.0.0.1:3128']);
    expect(config.chatgptBaseUrl).toEqual(['https://chatgpt.example.com']);
    expect(config.publicUrl).toBe('https://gw.example.com');
  });

  // Docker Compose service and container names often hold one (`warp_proxy`, `<project>_<service>_1`), and Docker's DNS resolves them.
  it.each([
    ['PROXY_URL', 'socks5://warp_proxy:1080', 'proxyUrl'],
    ['PROXY_URL', 'http://user:pass@flowgpt_squid_1:3128', 'proxyUrl'],
    ['SENTINEL_PROXY_URL', 'http://sentinel_proxy:3128', 'sentinelProxyUrl'],
    ['TURNSTILE_SOLVER_URL', 'http://turnstile_solver:5000/solve', 'turnstileSolverUrl'],
    ['CHATGPT_BASE_URL', 'http://chat_relay:5005', 'chatgptBaseUrl'],
    ['REDIS_URL', 'redis://my_redis:6379/0', 'redisUrl'],
  ])('takes %s=%s, a host name with an underscore', (name, value, property) => {
    const config = loadConfig({ [name]: value }) as unknown as Record<string, unknown>;
    expect([config[property]].flat()).toEqual([value]);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', RETRY_TIMES: '  ' }).port).toBe(5005);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT="abc" is not an integer$/],
    [{ PORT: '70000' }, /^PORT="70000" is invalid/],
    [{ RETRY_TIMES: '-1' }, /^RETRY_TIMES="-1" is invalid/],
    [{ HISTORY_DISABLED: 'maybe' }, /^HISTORY_DISABLED="maybe" is not a boolean/],
    [{ CHATGPT_BASE_URL: 'chatgpt.com' }, /^CHATGPT_BASE_URL="chatgpt.com" is invalid/],
    [{ AUTH_BASE_URL: 'ftp://x' }, /^AUTH_BASE_URL="ftp:\/\/x" is invalid/],
    [{ PROXY_URL: 'not a url' }, /^PROXY_URL=<hidden> is invalid/],
    [{ REASONING_OUTPUT: 'loud' }, /^REASONING_OUTPUT="loud" is invalid/],
    [{ POW_DIFFICULTY: 'zz' }, /^POW_DIFFICULTY="zz" is invalid: must be a hex string/],
    [{ MAX_BODY_SIZE: 'huge' }, /^MAX_BODY_SIZE="huge" is not a size/],
    [{ API_PREFIX: 'admin' }, /^API_PREFIX=<hidden> collides/],
    [{ API_PREFIX: 'healthz' }, /^API_PREFIX=<hidden> collides/],
    [{ API_PREFIX: 'Files' }, /^API_PREFIX=<hidden> collides/],
    [{ REFRESH_CRON: 'every day' }, /^REFRESH_CRON="every day" is not a valid cron expression: /],
    [{ REFRESH_CRON: '0 25 * * *', SCHEDULED_REFRESH: 'false' }, /^REFRESH_CRON="0 25 \* \* \*" is not a valid cron expression: /],
    [{ REFRESH_CRON: '0 3 30 2 *', SCHEDULED_REFRESH: 'true' }, /^REFRESH_CRON="0 3 30 2 \*" never fires: no date matches it$/],
    [{ API_PREFIX: 'a/b' }, /^API_PREFIX=<hidden> is invalid/],
    [{ FILE_HOST: 'https://files.example.com' }, /^FILE_HOST="https:\/\/files.example.com" is invalid: must be host\[:port\]/],
    [{ NO_SENTINEL: 'maybe' }, /^NO_SENTINEL="maybe" is not a boolean/],
    [{ USER_AGENTS: 'Mozilla/5.0 (X11; Linux) Chrome/120,Bad\u4e2dAgent' }, /^USER_AGENTS=.* is invalid: must be printable ASCII/],
    // A key that can never match: clients send "Bearer <key>" and the key is what follows; a header carries ASCII only.
    [{ AUTHORIZATION: 'sk-pool-1, Bearer sk-pool-2' }, /^AUTHORIZATION=<hidden> is invalid: must list each key without "Bearer " in front/],
    [{ AUTHORIZATION: '\u5bc6\u94a5-pool' }, /^AUTHORIZATION=<hidden> is invalid: must be printable ASCII/],
    [
      { UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '120000' },
      /^UPSTREAM_FIRST_BYTE_TIMEOUT_MS=120000 must be shorter than UPSTREAM_IDLE_TIMEOUT_MS=120000$/,
    ],
    [{ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '5000', UPSTREAM_IDLE_TIMEOUT_MS: '4000' }, /^UPSTREAM_FIRST_BYTE_TIMEOUT_MS=5000 must be shorter/],
    // A file larger than what its key (or everyone) may keep could never be taken: the 413 would blame the allowance.
    [
      { FILES_MAX_SIZE: '64mb', FILES_MAX_OWNER_SIZE: '32mb' },
      /^FILES_MAX_SIZE=67108864 is invalid: must not exceed FILES_MAX_OWNER_SIZE=33554432, nor that FILES_MAX_TOTAL_SIZE=4294967296$/,
    ],
    [{ FILES_MAX_TOTAL_SIZE: '100mb' }, /^FILES_MAX_OWNER_SIZE=268435456 is invalid: must not exceed FILES_MAX_TOTAL_SIZE=104857600$/],
    // Every call adds /backend-api/… itself: the base would give /backend-api/backend-api/….
    [
      { CHATGPT_BASE_URL: 'https://chatgpt.com/backend-api/' },
      /^CHATGPT_BASE_URL="https:\/\/chatgpt.com\/backend-api" is invalid: name the host without \/backend-api \("https:\/\/chatgpt.com"\); FlowGPT adds \/backend-api\/… itself$/,
    ],
    [
      { CHATGPT_BASE_URL: 'https://chatgpt.com, http://relay.local:5005/Backend-Anon' },
      /^CHATGPT_BASE_URL="http:\/\/relay.local:5005\/Backend-Anon" is invalid/,
    ],
  ])('rejects %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  // Node arms a longer timer as 1 ms: "never" written as a huge value would abort every conversation at once.
  it.each([
    'HTTP_KEEPALIVE_TIMEOUT_MS',
    'REDIS_COMMAND_TIMEOUT_MS',
    'SHUTDOWN_GRACE_MS',
    'UPSTREAM_CONNECT_TIMEOUT_MS',
    'UPSTREAM_IDLE_TIMEOUT_MS',
    'UPSTREAM_FIRST_BYTE_TIMEOUT_MS',
    'UPSTREAM_KEEPALIVE_TIMEOUT_MS',
    'CF_CLEARANCE_TIMEOUT_MS',
    'KEEPALIVE_INTERVAL_MS',
  ])('refuses %s past the longest delay a timer takes, saying so', (name) => {
    const env = { UPSTREAM_IDLE_TIMEOUT_MS: String(2 ** 31 - 1), [name]: '3000000000' };
    expect(() => loadConfig(env)).toThrow(
      new RegExp(`^${name}="3000000000" is invalid: must (be at most 2147483647 .*timer|not be greater)`),
    );
  });

  it('takes the longest delay a timer takes', () => {
    const longest = String(2 ** 31 - 1);
    const config = loadConfig({ UPSTREAM_IDLE_TIMEOUT_MS: longest, REQUEST_TIMEOUT_MS: longest, KEEPALIVE_INTERVAL_MS: longest });
    expect([config.upstreamIdleTimeoutMs, config.requestTimeoutMs, config.keepAliveIntervalMs]).toEqual([
      2 ** 31 - 1,
      2 ** 31 - 1,
      2 ** 31 - 1,
    ]);
  });

  // Node's server compares these two with the connection's age every connectionsCheckingInterval; no timer gets them.
  it('takes HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS past the longest delay a timer takes', () => {
    const config = loadConfig({ REQUEST_TIMEOUT_MS: '3000000000', HEADERS_TIMEOUT_MS: '2500000000' });
    expect([config.requestTimeoutMs, config.headersTimeoutMs]).toEqual([3_000_000_000, 2_500_000_000]);
  });

  it('refuses as API_PREFIX every route of ours, from the one list the admin entry reads too', () => {
    for (const route of RESERVED_ROUTES) expect(() => loadConfig({ API_PREFIX: route })).toThrow(/collides with a route of ours/);
    expect(loadConfig({ API_PREFIX: 'my-secret-prefix' }).apiPrefix).toBe('my-secret-prefix');
  });

  // GET /seedtoken answers the panels' API (registered before the entry), so the admin could never sign in there.
  it('refuses seedtoken as API_PREFIX, in any case', () => {
    for (const prefix of ['seedtoken', 'SeedToken'])
      expect(() => loadConfig({ API_PREFIX: prefix })).toThrow(/collides with a route of ours/);
  });

  it('reads .env once, with the process environment winning, and names an unreadable .env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowgpt-env-'));
    const variable = `FLOWGPT_SPEC_${process.pid}`;
    try {
      const file = join(dir, '.env');
      writeFileSync(file, `RETRY_TIMES=7\n${variable}=from-file\n`);
      process.env[variable] = 'from-process';
      const env = readEnvironment(file);
      expect(env.RETRY_TIMES).toBe('7');
      expect(env[variable]).toBe('from-process');
      expect(loadConfig(env).retryTimes).toBe(7);
      expect(readEnvironment(join(dir, 'missing.env'))[variable]).toBe('from-process');
      expect(() => readEnvironment(dir)).toThrow(ConfigError);
      expect(() => readEnvironment(dir)).toThrow(/cannot be read/);
    } finally {
      delete process.env[variable];
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Windows Notepad saves UTF-8 with a byte order mark, which would become part of the first variable's name.
  it('reads the first variable of a .env saved with a byte order mark', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowgpt-env-'));
    try {
      const file = join(dir, '.env');
      writeFileSync(file, '\ufeffRETRY_TIMES=7\nPORT=8080\n');
      const env = readEnvironment(file);
      expect(env.RETRY_TIMES).toBe('7');
      expect(loadConfig(env).retryTimes).toBe(7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns about names of .env that look meant for us but are not read', () => {
    expect(
      unreadVariableWarnings([
        'RETRY_TIME',
        'retry_times',
        'IMPERSONATE',
        'CHECK_MODEL',
        'PORT',
        'ARK0SE_TOKEN_URL',
        'COMPOSE_PROJECT_NAME',
        'TZ',
        'HOST',
        'NODE_ENV',
      ]),
    ).toEqual([
      '.env sets RETRY_TIME, which FlowGPT does not read: did you mean RETRY_TIMES?',
      '.env sets retry_times, which FlowGPT does not read: did you mean RETRY_TIMES?',
      '.env sets IMPERSONATE, a setting of the reference that FlowGPT does not read',
      '.env sets CHECK_MODEL, a setting of the reference that FlowGPT does not read',
    ]);
  });

  // `docker run -e RETRY_TIME=5` or a compose file's `environment:` never goes through .env: the typo is just as silent.
  it('warns about near misses in the process environment too, naming each once and never printing a value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowgpt-env-'));
    try {
      const file = join(dir, '.env');
      writeFileSync(file, 'SCHEDULE_REFRESH=true\nRETRY_TIMES=2\n');
      const environment = {
        RETRY_TIME: 'secret-looking-value-1',
        SCHEDULE_REFRESH: 'true',
        admin_key: 'secret-looking-value-2',
        REDIS_URI: 'redis://user:secret-looking-value-3@redis:6379',
        IMPERSONATE: 'chrome',
        PORT: '8080',
      };
      const warnings = variableNameWarnings(file, environment);
      expect(warnings).toEqual([
        `${file} sets SCHEDULE_REFRESH, which FlowGPT does not read: did you mean SCHEDULED_REFRESH?`,
        'the environment sets RETRY_TIME, which FlowGPT does not read: did you mean RETRY_TIMES?',
        'the environment sets admin_key, which FlowGPT does not read: did you mean ADMIN_KEY?',
        'the environment sets REDIS_URI, which FlowGPT does not read: did you mean REDIS_URL?',
        'the environment sets IMPERSONATE, a setting of the reference that FlowGPT does not read',
      ]);
      expect(warnings.join('\n')).not.toMatch(/secret-looking-value|chrome/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The process environment holds the shell's, the container's and the orchestrator's names: none of them is ours.
  it('leaves the names other programs set in the process environment alone', () => {
    const others = [
      'PATH',
      'HOME',
      'HOSTNAME',
      'LANG',
      'LANGUAGE',
      'LC_ALL',
      'TERM',
      'SHLVL',
      'PWD',
      'OLDPWD',
      'USER',
      'LOGNAME',
      'SHELL',
      'TZ',
      'NODE_ENV',
      'NODE_OPTIONS',
      'NODE_VERSION',
      'NODE_EXTRA_CA_CERTS',
      'YARN_VERSION',
      'npm_config_cache',
      'npm_lifecycle_event',
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'NO_PROXY',
      'ALL_PROXY',
      'http_proxy',
      'https_proxy',
      'no_proxy',
      'all_proxy',
      'SSL_CERT_FILE',
      'SSL_CERT_DIR',
      'DEBIAN_FRONTEND',
      'CONTAINER_NAME',
      'COMPOSE_PROJECT_NAME',
      'DOCKER_HOST',
      'KUBERNETES_SERVICE_HOST',
      'KUBERNETES_SERVICE_PORT',
      'KUBERNETES_PORT',
      'FLOWGPT_SERVICE_HOST',
      'FLOWGPT_SERVICE_PORT',
      'FLOWGPT_PORT',
      'FLOWGPT_PORT_5005_TCP',
      'FLOWGPT_PORT_5005_TCP_ADDR',
      'REDIS_PORT',
      'REDIS_SERVICE_HOST',
      'REDIS_PORT_6379_TCP',
      'REDIS_PASSWORD',
      'REDIS_HOST',
      'CI',
      'GITHUB_ACTIONS',
      'RUNNER_OS',
      'JEST_WORKER_ID',
      'INIT_CWD',
      'COLORTERM',
      'EDITOR',
    ];
    const environment = Object.fromEntries(others.map((name) => [name, 'x']));
    expect(variableNameWarnings(join(tmpdir(), 'no-such-dir', '.env'), environment)).toEqual([]);
  });

  // Kubernetes gives every pod <SERVICE>_PORT, <SERVICE>_SERVICE_HOST, … for each service of its namespace: a service
  // named file, voice or sandbox made FILE_PORT, which was taken for a near miss of FILE_HOST.
  it("leaves Kubernetes' and Docker's service-link names alone, whatever the service is called", () => {
    const services = ['FILE', 'VOICE', 'SANDBOX', 'CDN_BASE', 'LOG'];
    const links = services.flatMap((service) => [
      `${service}_PORT`,
      `${service}_SERVICE_HOST`,
      `${service}_SERVICE_PORT`,
      `${service}_SERVICE_PORT_HTTP`,
      `${service}_PORT_80_TCP`,
      `${service}_PORT_80_TCP_ADDR`,
      `${service}_PORT_80_TCP_PORT`,
      `${service}_PORT_80_TCP_PROTO`,
    ]);
    const environment = Object.fromEntries(links.map((name) => [name, 'x']));
    expect(variableNameWarnings(join(tmpdir(), 'no-such-dir', '.env'), environment)).toEqual([]);
    expect(unreadVariableWarnings(['FILES_HOST', 'VOICE_HOTS'], 'the environment')).toEqual([
      'the environment sets FILES_HOST, which FlowGPT does not read: did you mean FILE_HOST?',
      'the environment sets VOICE_HOTS, which FlowGPT does not read: did you mean VOICE_HOST?',
    ]);
  });

  // HISTORY_DISABLED=True was read, LOG_LEVEL=WARN stopped the start: the words of a choice are no more case-sensitive.
  it('reads the words of a choice in any case, as it reads booleans', () => {
    const config = loadConfig({
      LOG_LEVEL: 'WARN',
      LOG_FORMAT: 'Json',
      UPSTREAM_HTTP2: 'OFF',
      UPSTREAM_FLOW: ' Classic ',
      CF_CLEARANCE: 'Chromium',
      REASONING_OUTPUT: 'THINK',
    });
    expect(config).toMatchObject({
      logLevel: 'warn',
      logFormat: 'json',
      upstreamHttp2: 'off',
      upstreamFlow: 'classic',
      cfClearance: 'chromium',
      reasoningOutput: 'think',
    });
    expect(() => loadConfig({ LOG_LEVEL: 'TRACE' })).toThrow(
      'LOG_LEVEL="TRACE" is invalid: must be one of the following values: error, warn, log, debug, verbose (info is log, warning is warn)',
    );
  });

  // Most loggers call the everyday level `info` (pino, winston, Python); Nest calls it `log`, and LOG_LEVEL=info stopped the start.
  it('reads LOG_LEVEL=info as log and LOG_LEVEL=warning as warn, in any case', () => {
    expect(loadConfig({ LOG_LEVEL: 'info' }).logLevel).toBe('log');
    expect(loadConfig({ LOG_LEVEL: ' INFO ' }).logLevel).toBe('log');
    expect(loadConfig({ LOG_LEVEL: 'Warning' }).logLevel).toBe('warn');
  });

  // `PUBLIC_URL=https://chat.example.com/` made the start-up line say "OpenAI base URL https://chat.example.com//v1".
  it('reads PUBLIC_URL without its trailing slash, and refuses one with a query or a fragment, which no link could follow', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://chat.example.com/' }).publicUrl).toBe('https://chat.example.com');
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/api//' }).publicUrl).toBe('https://example.com/api');
    expect(() => loadConfig({ PUBLIC_URL: 'https://chat.example.com/?lang=en' })).toThrow(
      'PUBLIC_URL="https://chat.example.com/?lang=en" is invalid: must have no query (?…) or fragment (#…): links are made by adding a path to it',
    );
    expect(() => loadConfig({ PUBLIC_URL: 'https://chat.example.com/#top' })).toThrow(/PUBLIC_URL=.* must have no query/);
  });

  it('bounds the wait for the first answer byte below the idle timeout', () => {
    expect(loadConfig({}).upstreamFirstByteTimeoutMs).toBe(30_000);
    expect(loadConfig({ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '500' }).upstreamFirstByteTimeoutMs).toBe(500);
  });

  it("reads the reference's misspelt ARK0SE_TOKEN_URL when ARKOSE_TOKEN_URL is unset", () => {
    expect(loadConfig({ ARK0SE_TOKEN_URL: 'http://solver.local:8080' }).arkoseTokenUrl).toBe('http://solver.local:8080');
    expect(loadConfig({ ARK0SE_TOKEN_URL: 'http://a.local', ARKOSE_TOKEN_URL: 'http://b.local' }).arkoseTokenUrl).toBe('http://b.local');
  });

  it('refuses a pool key that is the admin secret, which would make every API client an admin', () => {
    const sameAs = (source: string) =>
      `AUTHORIZATION=<hidden> is invalid: one of its keys is the admin secret (${source}), so every API client holding it could open the admin: give them different values`;
    expect(() => loadConfig({ AUTHORIZATION: 'pool-1,admin-secret', ADMIN_KEY: 'admin-secret' })).toThrow(
      new ConfigError(sameAs('ADMIN_KEY')),
    );
    // With ADMIN_KEY set, the prefix is handed to API users anyway and is no secret of the admin.
    expect(loadConfig({ AUTHORIZATION: 'my-prefix', API_PREFIX: 'my-prefix', ADMIN_KEY: 'admin-secret' }).authorization).toEqual([
      'my-prefix',
    ]);
  });

  // The reference's one-secret set-up: every API client sends the prefix in each URL (/my-prefix/v1/...), so a pool key
  // equal to it tells them nothing they did not hold already.
  it('starts with a pool key that is API_PREFIX when that is the admin secret', () => {
    expect(loadConfig({ AUTHORIZATION: 'my-prefix', API_PREFIX: 'my-prefix' }).authorization).toEqual(['my-prefix']);
  });

  // The usual mistake is a URL without its scheme: the line says which schemes are taken and shows one.
  it.each([
    [
      'REDIS_URL',
      'localhost:6379',
      '<hidden> is invalid: must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379/0)',
    ],
    [
      'PROXY_URL',
      '127.0.0.1:7890',
      '<hidden> is invalid: each value must be a URL starting with http://, https://, socks://, socks4://, socks4a://, socks5:// or socks5h:// (e.g. http://127.0.0.1:7890 or socks5://user:password@proxy.example.com:1080)',
    ],
    [
      'CHATGPT_BASE_URL',
      'chatgpt.com',
      '"chatgpt.com" is invalid: each value must be a URL starting with http:// or https:// (e.g. https://chat.example.com)',
    ],
    [
      'PUBLIC_URL',
      'chat.example.com',
      '"chat.example.com" is invalid: must be a URL starting with http:// or https:// (e.g. https://chat.example.com)',
    ],
  ])('says what a %s of %s lacks', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new ConfigError(`${name}=${message}`));
  });

  it('never prints a secret value in its error', () => {
    expect(() => loadConfig({ ADMIN_KEY: 'short' })).toThrow(/^ADMIN_KEY=<hidden> is invalid/);
  });

  // Every proxy variable, and any value with a URL that carries credentials; the reason names the variable, not our property.
  it.each([
    ['SENTINEL_PROXY_URL', 'socks5://user:Pr0xyPassw0rd@proxy host:1080', 'each value must be a URL starting with http://'],
    ['EXPORT_PROXY_URL', 'socks5://user:Pr0xyPassw0rd@proxy host:1080', 'must be a URL starting with http://'],
    ['PROXY_URL', 'user:Pr0xyPassw0rd@proxy.example.com:1080', 'each value must be a URL starting with http://'],
    ['CHATGPT_BASE_URL', 'https://relay:Pr0xyPassw0rd@relay host', 'each value must be a URL starting with http://'],
    ['TURNSTILE_SOLVER_URL', 'solver.local/solve?token=Pr0xyPassw0rd', 'must be a URL starting with http://'],
  ])('hides a bad %s with credentials and names the variable', (name, value, reason) => {
    expect(() => loadConfig({ [name]: value })).toThrow(`${name}=<hidden> is invalid: ${reason}`);
  });

  it('reads the HTTP edge limits and proxies, and refuses bad ones', () => {
    const defaults = loadConfig({});
    expect(defaults.maxSmallBodyBytes).toBe(1024 * 1024);
    expect(defaults.maxConnections).toBe(10_000);
    expect(defaults.trustedProxies).toEqual([]);
    expect(defaults.allowedHosts).toEqual([]);
    const config = loadConfig({
      MAX_SMALL_BODY_SIZE: '256kb',
      MAX_CONNECTIONS: '500',
      HEADERS_TIMEOUT_MS: '5000',
      REQUEST_TIMEOUT_MS: '60000',
      HTTP_KEEPALIVE_TIMEOUT_MS: '65000',
      TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8, fd00::/8, loopback',
      ALLOWED_HOSTS: 'chat.example.com, localhost:5005, [::1]:5005',
    });
    expect(config.maxSmallBodyBytes).toBe(256 * 1024);
    expect(config.maxConnections).toBe(500);
    expect(config.trustedProxies).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'loopback']);
    expect(config.allowedHosts).toEqual(['chat.example.com', 'localhost:5005', '[::1]:5005']);
    expect(() => loadConfig({ TRUSTED_PROXIES: '127.0.0.1, proxy.example.com' })).toThrow(/TRUSTED_PROXIES/);
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/TRUSTED_PROXIES/);
    expect(() => loadConfig({ ALLOWED_HOSTS: 'https://chat.example.com' })).toThrow(/ALLOWED_HOSTS/);
    expect(() => loadConfig({ MAX_CONNECTIONS: '0' })).toThrow(/MAX_CONNECTIONS/);
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '70000', REQUEST_TIMEOUT_MS: '60000' })).toThrow(/HEADERS_TIMEOUT_MS/);
  });
});
