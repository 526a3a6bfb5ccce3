// One file over 300 lines on purpose: the hand-off socket, its resume state and the stream it feeds change together;
// the two small helpers at the end (the socket URL request, the error summary) serve only this class.
import { Readable } from 'node:stream';
import WebSocket from 'ws';
import { UpstreamError } from '../../common/errors/upstream-error';
import type { UpstreamClient, UpstreamIdentity } from '../../upstream/upstream.client';
import { upstreamFailure } from '../../upstream/upstream-failure';
import { SseParser, type SseEvent } from '../translation/sse-parser';
import { readLimited } from '../upstream-answer-stream';
import { parseHandoffFrame, resumeBody, sseEvent, subscribeMessages, turnTopic, type StreamHandoff } from './handoff-frames';

export interface HandoffContext {
  upstream: UpstreamClient;
  identity: UpstreamIdentity;
  baseUrl: string;
  /** The client's signal: its abort closes the socket. */
  signal: AbortSignal;
  /** Time allowed to open the socket and to get the resume answer's headers. */
  connectTimeoutMs: number;
  /** Silence on the socket after which it counts as dropped (then the turn is resumed). */
  idleTimeoutMs: number;
}

/** How often one turn may be resumed before the answer is given up as cut. */
const MAX_RESUMES = 3;
const ERROR_BODY_LIMIT = 16 * 1024;
const NORMAL_CLOSURE = 1000;

/**
 * The answer of a handed-off turn as the same SSE bytes an HTTP conversation body carries: one event per
 * chunk, read from the `conversation-turn-{id}` WebSocket topic and, when the socket drops before the turn's
 * `[DONE]`, from `f/conversation/resume` starting at the first item not yet delivered (so nothing is doubled).
 * Destroying it (the client went away) closes the socket at once.
 */
export class WebSocketAnswerSource extends Readable {
  private socket: WebSocket | undefined;
  /** Items of the turn delivered so far: where a resume starts. */
  private offset = 0;
  private finished = false;
  private resumes = 0;
  private resuming = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly stop = new AbortController();
  private readonly topic: string;

  private constructor(
    private readonly handoff: StreamHandoff,
    private readonly context: HandoffContext,
  ) {
    super();
    this.topic = turnTopic(handoff);
  }

  /**
   * Fetches the socket URL, opens the socket through the identity's proxy and subscribes to the turn. Failing
   * that, throws a typed `UpstreamError` (the answer has not started, so the attempt may be retried).
   */
  static async open(handoff: StreamHandoff, context: HandoffContext): Promise<WebSocketAnswerSource> {
    if (!handoff.turnExchangeId && !handoff.topic) {
      throw new UpstreamError({ kind: 'websocket_failed', step: 'handoff', status: 200, said: 'the stream_handoff stub names no turn' });
    }
    const url = await socketUrl(context);
    const source = new WebSocketAnswerSource(handoff, context);
    await source.connect(url);
    return source;
  }

  override _read(): void {
    this.socket?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    this.stop.abort();
    this.context.signal.removeEventListener('abort', this.onAbort);
    this.closeSocket();
    callback(error);
  }

  private readonly onAbort = (): void => {
    const error = new Error('The client went away.');
    error.name = 'AbortError';
    this.destroy(error);
  };

  /** Opens the socket and subscribes; called once, by `open`. */
  async connect(url: string): Promise<void> {
    const { agent, headers } = this.context.upstream.webSocketOptions(url, this.context.baseUrl, this.context.identity);
    const socket = new WebSocket(url, { agent, headers, handshakeTimeout: this.context.connectTimeoutMs, perMessageDeflate: false });
    this.socket = socket;
    const abort = () => socket.terminate();
    this.context.signal.addEventListener('abort', abort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('unexpected-response', (_request, response) => {
          response.resume();
          reject(
            new UpstreamError({
              kind: 'websocket_failed',
              step: 'handoff',
              status: response.statusCode,
              said: `the socket upgrade answered ${response.statusCode}`,
            }),
          );
        });
        socket.once('error', (error) => reject(error));
        socket.once('close', () => reject(new Error('closed before it opened')));
      });
    } catch (error) {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      if (this.context.signal.aborted) throw this.abortError();
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError({ kind: 'websocket_failed', step: 'handoff', said: (error as Error).message });
    } finally {
      this.context.signal.removeEventListener('abort', abort);
    }
    if (this.context.signal.aborted) {
      socket.terminate();
      throw this.abortError();
    }
    this.context.signal.addEventListener('abort', this.onAbort, { once: true });
    socket.on('message', (data, isBinary) => this.onFrame(isBinary ? '' : textOf(data)));
    socket.on('close', (code) => this.dropped(`the socket closed (${code})`));
    socket.on('error', (error) => this.dropped(`the socket failed: ${error.message}`));
    for (const message of subscribeMessages(this.topic)) socket.send(message);
    this.armIdleTimer();
  }

  private onFrame(text: string): void {
    if (this.finished || this.resuming) return;
    this.armIdleTimer();
    const frame = parseHandoffFrame(text);
    if (frame.kind === 'error') {
      if (frame.topic === undefined || frame.topic === this.topic) {
        this.destroy(new UpstreamError({ kind: 'websocket_failed', step: 'handoff', said: frame.message }));
      }
      return;
    }
    if (frame.kind !== 'item' || (frame.topic !== undefined && frame.topic !== this.topic)) return;
    if (frame.offset !== undefined && frame.offset < this.offset) return;
    if (frame.offset !== undefined && frame.offset > this.offset) {
      this.dropped(`items ${this.offset}–${frame.offset - 1} never arrived`);
      return;
    }
    this.offset++;
    const parser = new SseParser();
    for (const event of [...parser.push(frame.sse), ...parser.end()]) this.deliver(event);
    if (!this.finished && this.readableLength > this.readableHighWaterMark) this.socket?.pause();
  }

  private deliver(event: SseEvent): void {
    if (this.finished) return;
    this.push(Buffer.from(sseEvent(event.event, event.data), 'utf8'));
    if (event.data.trim() === '[DONE]') {
      this.finished = true;
      clearTimeout(this.idleTimer);
      this.closeSocket();
      this.push(null);
    }
  }

  /** The socket is gone (or silent) before the turn ended: recover the rest from `f/conversation/resume`. */
  private dropped(reason: string): void {
    if (this.finished || this.resuming || this.destroyed) return;
    this.resuming = true;
    clearTimeout(this.idleTimer);
    this.closeSocket();
    void this.recover(reason);
  }

  private async recover(reason: string): Promise<void> {
    while (!this.finished && !this.destroyed) {
      if (this.resumes >= MAX_RESUMES) {
        this.destroy(new UpstreamError({ kind: 'resume_failed', step: 'handoff', said: reason }));
        return;
      }
      this.resumes++;
      try {
        await this.readResumed();
        if (!this.finished) reason = 'the resumed stream ended before the turn did';
      } catch (error) {
        // A refusal of the resume itself is final; a transport failure is tried again.
        if ((error instanceof UpstreamError && error.kind === 'resume_failed') || this.destroyed) {
          this.destroy(this.destroyed ? undefined : (error as Error));
          return;
        }
        reason = (error as Error).message;
      }
    }
  }

  private async readResumed(): Promise<void> {
    const { upstream, identity, baseUrl, connectTimeoutMs } = this.context;
    const response = await upstream.stream({
      method: 'POST',
      url: `${baseUrl}/backend-api/f/conversation/resume`,
      identity,
      headers: { accept: 'text/event-stream' },
      json: resumeBody(this.handoff, this.offset),
      timeoutMs: connectTimeoutMs,
      signal: this.stop.signal,
      step: 'handoff',
    });
    const contentType = String(response.headers['content-type'] ?? '');
    if (response.status !== 200 || !contentType.includes('text/event-stream')) {
      const body = await readLimited(response.body, ERROR_BODY_LIMIT);
      throw new UpstreamError({
        kind: 'resume_failed',
        step: 'handoff',
        status: response.status,
        said: `resume answered ${response.status}${saidOf(body)}`,
      });
    }
    const parser = new SseParser();
    try {
      for await (const chunk of response.body) {
        for (const event of parser.push(chunk as Buffer)) this.countAndDeliver(event);
        if (this.finished || this.destroyed) return;
      }
      for (const event of parser.end()) this.countAndDeliver(event);
    } finally {
      response.body.destroy();
    }
  }

  private countAndDeliver(event: SseEvent): void {
    this.offset++;
    this.deliver(event);
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.dropped(`no message for ${this.context.idleTimeoutMs} ms`), this.context.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private closeSocket(): void {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    socket.removeAllListeners();
    socket.on('error', () => undefined);
    if (socket.readyState === WebSocket.OPEN) socket.close(NORMAL_CLOSURE);
    else socket.terminate();
  }

  private abortError(): Error {
    const error = new Error('The client went away.');
    error.name = 'AbortError';
    return error;
  }
}

function textOf(data: WebSocket.RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}

/** `GET /backend-api/celsius/ws/user` → `{websocket_url}`, with the account's credentials. */
async function socketUrl(context: HandoffContext): Promise<string> {
  const response = await context.upstream.request({
    method: 'GET',
    url: `${context.baseUrl}/backend-api/celsius/ws/user`,
    identity: context.identity,
    timeoutMs: context.connectTimeoutMs,
    signal: context.signal,
    step: 'handoff',
  });
  if (response.status !== 200) {
    const failure = upstreamFailure('handoff', response.status, response.headers, response.body);
    // The account's own trouble (expired, banned, limited) is reported as such, for the pool.
    if (failure.accountOutcome || failure.kind === 'cf_challenge') throw failure;
    throw new UpstreamError({
      kind: 'websocket_failed',
      step: 'handoff',
      status: response.status,
      said: `celsius/ws/user answered ${response.status}${saidOf(response.body)}`,
    });
  }
  let url: unknown;
  try {
    url = (JSON.parse(response.body.toString('utf8')) as { websocket_url?: unknown }).websocket_url;
  } catch {
    url = undefined;
  }
  if (typeof url !== 'string' || !/^wss?:\/\//i.test(url)) {
    throw new UpstreamError({ kind: 'websocket_failed', step: 'handoff', status: 200, said: 'celsius/ws/user gave no websocket_url' });
  }
  return url;
}

/** The upstream's error code or message from an error body, shortened, as ` (…)`; '' when it has none. */
function saidOf(body: Buffer): string {
  const said = readSaid(body);
  return said ? ` (${said})` : '';
}

function readSaid(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { detail?: unknown };
    const detail = parsed.detail;
    if (typeof detail === 'string') return detail.slice(0, 200);
    if (detail && typeof detail === 'object') {
      const { code, message } = detail as { code?: unknown; message?: unknown };
      return (typeof code === 'string' ? code : typeof message === 'string' ? message : '').slice(0, 200);
    }
  } catch {
    // not JSON
  }
  return '';
}
