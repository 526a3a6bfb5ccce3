import { Logger } from '@nestjs/common';
import { Redis, ReplyError } from 'ioredis';
import { StoreUnavailableError } from '../errors/store-unavailable.error';
import { StartProblem } from '../startup/start-problem';
import { maskUrlCredentials } from '../util/secrets';

export interface RedisConnectionOptions {
  url: string;
  /** How long one command may go unanswered before it fails (a stalled or stopped server). */
  commandTimeoutMs: number;
}

/** Replies that mean "the server cannot serve right now", not "this command is wrong". */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|OOM|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * ioredis reports a timeout, a closed connection or a refused write as a plain `Error` (or an
 * `AbortError` such as `MaxRetriesPerRequestError`); socket errors carry a `code`. A `ReplyError` is the
 * server's answer: only some of them mean it cannot serve now. A `TypeError` and the like are bugs, not outages.
 */
function isConnectionFailure(error: unknown): boolean {
  if (error instanceof ReplyError) return UNAVAILABLE_REPLIES.test((error as Error).message);
  if (!(error instanceof Error)) return false;
  return error.constructor === Error || error.name === 'AbortError' || error.name === 'MaxRetriesPerRequestError' || 'code' in error;
}

/**
 * The one Redis connection of this process (`REDIS_URL`), shared by the account store, admin sessions,
 * throttles and model caps. A Redis that is down or stalled must cost a request a few seconds at most:
 * - every command fails after `commandTimeoutMs` without an answer (a stopped server keeps the socket open), and a
 *   connection that answers nothing for as long is dropped and made again;
 * - while the connection is down, commands fail at once instead of queueing (no offline queue), and
 *   commands cut off by a lost connection are failed, not replayed later behind the caller's back;
 * - ioredis keeps reconnecting (at most a second apart), so service resumes by itself.
 * `run` turns these failures into `StoreUnavailableError`.
 */
export class RedisConnection {
  readonly client: Redis;
  /** Names the server without credentials. */
  readonly description: string;
  private readonly logger = new Logger('Redis');
  private lastWarning = '';
  private lastError?: Error;
  private opened = false;

  constructor(private readonly options: RedisConnectionOptions) {
    this.description = `Redis at ${maskUrlCredentials(options.url)}`;
    this.client = new Redis(options.url, {
      lazyConnect: true,
      commandTimeout: options.commandTimeoutMs,
      // A connection that answers nothing for as long is dropped and made again: a command timeout alone leaves it open,
      // and a dead path that never closes it (a failover behind the address, a lost NAT entry) would fail every command.
      socketTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs, 1_000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    });
    this.client.on('error', (error: Error) => {
      this.lastError = error;
      // Until open() succeeds, a failure is reported once, by open()'s StartProblem.
      if (!this.opened) return;
      // A down server repeats the same error on every reconnect attempt: say it once.
      if (error.message === this.lastWarning) return;
      this.lastWarning = error.message;
      this.logger.warn(`${this.description}: ${error.message}`);
    });
    this.client.on('ready', () => {
      if (this.lastWarning) this.logger.log(`${this.description} answers again`);
      this.lastWarning = '';
    });
  }

  /**
   * Connects and checks the server answers and serves the URL's database; throws when it does not (the app must not
   * start without its store, nor on another database than the one asked for).
   */
  async open(): Promise<void> {
    try {
      if (this.client.status === 'wait') await this.client.connect();
      await this.client.ping();
    } catch (error) {
      this.client.disconnect();
      const reason = (this.lastError ?? (error as Error)).message;
      throw new StartProblem(
        `Redis is unreachable: ${reason} (REDIS_URL=${maskUrlCredentials(this.options.url)}): start Redis or fix REDIS_URL`,
      );
    }
    await this.selectDatabase();
    this.opened = true;
    await this.warnIfKeysCanBeEvicted();
  }

  /**
   * Keys with a TTL (rotation links, locks, admin sessions, throttles) must last their TTL: a lost rotation link makes
   * an instance send a RefreshToken already spent, which the auth server may answer by revoking the account. Redis
   * evicts them when it runs out of memory under any maxmemory-policy but noeviction (allkeys-* may evict the
   * accounts too), so such a policy is worth one warning at start, unless maxmemory is 0 (no limit: nothing is ever
   * evicted). Managed Redis often refuses CONFIG: then nothing.
   */
  private async warnIfKeysCanBeEvicted(): Promise<void> {
    let policy: unknown;
    let limit: unknown;
    try {
      policy = ((await this.client.config('GET', 'maxmemory-policy')) as unknown[])[1];
      limit = ((await this.client.config('GET', 'maxmemory')) as unknown[])[1];
    } catch (error) {
      this.logger.debug(`${this.description} does not tell its maxmemory-policy: ${(error as Error).message}`);
      return;
    }
    if (typeof policy !== 'string' || policy === 'noeviction' || limit === '0') return;
    const what = policy.startsWith('allkeys-') ? 'any of its keys, accounts included' : 'keys with a time to live';
    this.logger.warn(
      `${this.description} has maxmemory-policy ${policy}: when it reaches maxmemory it evicts ${what}, such as the ` +
        'rotation links that say which RefreshToken replaced a spent one (an instance would then send the spent one, and ' +
        'the auth server may revoke the account), locks and admin sessions. Set maxmemory-policy noeviction',
    );
  }

  /**
   * ioredis sends the URL's SELECT on connecting but only reports its failure as an 'error' event, and goes on in
   * database 0: select again here, so a database the server does not have stops the start.
   */
  private async selectDatabase(): Promise<void> {
    const database = this.client.options.db ?? 0;
    if (!database) return;
    try {
      await this.client.select(database);
    } catch (error) {
      this.client.disconnect();
      throw new StartProblem(
        `Redis refuses database ${database}: ${(error as Error).message} (REDIS_URL=${maskUrlCredentials(this.options.url)}): ` +
          'use a database the server has (0 to 15 unless its "databases" setting says otherwise) or fix REDIS_URL',
      );
    }
  }

  async close(): Promise<void> {
    if (this.client.status === 'end') return;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** Runs Redis commands; a server that is down, stalled or not ready yet becomes a `StoreUnavailableError`. */
  async run<T>(commands: (redis: Redis) => Promise<T>): Promise<T> {
    try {
      return await commands(this.client);
    } catch (error) {
      throw this.unavailable(error) ?? error;
    }
  }

  /** The `StoreUnavailableError` an error from a command stands for, or undefined when it is a real error of the command. */
  unavailable(error: unknown): StoreUnavailableError | undefined {
    if (error instanceof StoreUnavailableError) return error;
    return isConnectionFailure(error) ? new StoreUnavailableError(this.description, error) : undefined;
  }

  async ping(): Promise<void> {
    await this.run((redis) => redis.ping());
  }
}
