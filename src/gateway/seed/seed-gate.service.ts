import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Transform } from 'node:stream';
import { ApiError } from '../../common/errors/api-error';
import { SeedRegistry } from '../../token-pool/seed-registry';
import { UpstreamClient } from '../../upstream/upstream.client';
import { type GatewayCaller, upstreamIdentityOf } from '../gateway-identity';
import { ReverseProxyService } from '../proxy/reverse-proxy.service';
import { neutralValueFor } from '../rewriting/account-secrets';
import type { PublicOrigin } from '../upstream-hosts';
import { UpstreamHosts } from '../upstream-hosts';
import { scrubJson } from './account-identifiers.service';
import { conversationStreamSniffer } from './conversation-id-sniffer';
import { fileIdOf, fileIdsAnywhereIn, fileIdsIn } from './file-ids';
import { SeedTurns } from './seed-turns.service';
import { encodedPath, normalisedPath, type SeedDecision, seedDecision } from './seed-rules';

/** What a seed request becomes: answered here, or proxied this way. */
export type SeedAdmission =
  | { answered: true }
  | {
      answered: false;
      /** The normalised path and the query, as sent upstream. */
      path: string;
      /** The body, when it had to be read to check the conversation it names. */
      body?: Buffer;
      transformJson: (document: unknown, origin: PublicOrigin) => unknown;
      /** Records the conversation the answer's stream names. */
      streamThrough?: Transform;
    };

/** The upstream list is read in pages of this size, at most this many pages, to find the seed's conversations. */
const LIST_PAGE = 100;
const MAX_LIST_PAGES = 20;
const DEFAULT_LIST_LIMIT = 28;

/**
 * The seed rules' one step in the proxy pipeline (gateway.md §4): applies `seedDecision` to every backend request
 * of a shared (seed) user — blank answers, refusals, the seed's own conversation list, conversation ownership
 * (path, query and body), recording the conversations the seed creates and the turns they hand off, and scrubbing the account's identifiers
 * from JSON answers.
 */
@Injectable()
export class SeedGate {
  constructor(
    private readonly seeds: SeedRegistry,
    private readonly turns: SeedTurns,
    private readonly upstream: UpstreamClient,
    private readonly hosts: UpstreamHosts,
    private readonly proxy: ReverseProxyService,
  ) {}

  async admit(request: Request, response: Response, caller: GatewayCaller, url: string, bodyLimit: number): Promise<SeedAdmission> {
    const seedId = caller.session.seedId;
    if (!seedId) throw refused();
    const queryAt = url.indexOf('?');
    const query = queryAt < 0 ? '' : url.slice(queryAt);
    const path = normalisedPath(queryAt < 0 ? url : url.slice(0, queryAt));
    if (!path) throw ApiError.invalidRequest('The request path is not valid.', 'invalid_path');
    const decision = seedDecision(request.method, path);
    switch (decision.kind) {
      case 'refuse':
        throw refused();
      case 'blank':
        response.setHeader('cache-control', 'private, no-store');
        response.status(200).json(decision.body(seedId));
        return { answered: true };
      case 'own_list':
        await this.ownList(response, caller, seedId, new URLSearchParams(query));
        return { answered: true };
    }
    const params = new URLSearchParams(query);
    // Every value: servers differ on which of repeated keys they read.
    for (const id of [...(decision.conversationIds ?? []), ...params.getAll('conversation_id')]) if (id) await this.mustOwn(seedId, id);
    // The seed's files are read once, however many places of the request name some.
    let ownedFiles: Promise<string[]> | undefined;
    const mustOwnFiles = (fileIds: string[]) => mustAllBeIn(fileIds, () => (ownedFiles ??= this.seeds.filesOfSeedId(seedId)));
    await mustOwnFiles([...(decision.fileIds ?? []), ...filesNamedInQuery(params, decision.queryFiles ?? [])]);
    let body: Buffer | undefined;
    if (decision.bodyConversation) {
      body = await this.proxy.readBody(request, bodyLimit);
      const named = conversationNamedIn(body);
      if (named) await this.mustOwn(seedId, named);
    }
    if (request.method === 'POST' && RESUME_POST.test(path)) await this.mustOwnResumedTurn(seedId, body ?? Buffer.alloc(0));
    if (decision.bodyConversationList) {
      body ??= await this.proxy.readBody(request, bodyLimit);
      await this.mustOwnAll(seedId, conversationsListedIn(body));
    }
    // A JSON write may name a file anywhere (an attachment, an asset pointer): the upstream would read it as the account.
    if (!READS.has(request.method) && (body || !isUpload(request))) {
      body ??= await this.proxy.readBody(request, bodyLimit);
      const document = writtenDocument(body, request);
      // A project (`g-p-…`) is the account's: a conversation in it would be given its files and instructions.
      if (stringsOf(document).some((value) => PROJECT_ID.test(value.trim()))) throw refused();
      await mustOwnFiles(fileIdsAnywhereIn(document));
    }
    const identifiers = caller.account.privateIdentifiers;
    const scrub = (document: unknown) => scrubJson(document, identifiers, neutralValueFor);
    const adjusted = decision.adjust === 'accounts_check' ? (document: unknown) => scrub(withoutAccountUser(document)) : scrub;
    const recordFiles = (fileIds: string[]) => this.seeds.recordFilesForSeedId(seedId, fileIds);
    return {
      answered: false,
      path: encodedPath(path) + query,
      body,
      // What the seed's own conversation holds (an image it generated, a file attached to it) is its own.
      transformJson: recordsFiles(decision)
        ? async (document) => {
            await recordFiles(fileIdsIn(document));
            return adjusted(document);
          }
        : adjusted,
      streamThrough: decision.recordsConversation
        ? conversationStreamSniffer({
            conversation: async (conversationId) => void (await this.seeds.recordConversationForSeedId(seedId, conversationId)),
            handoff: (topic) => this.turns.record(seedId, topic),
            files: recordFiles,
          })
        : undefined,
    };
  }

  /**
   * A resume (`f/conversation/resume`) names the turn to replay: it must say in which conversation (its own, checked
   * above) and, when it names a turn, that turn must be one its own stream handed off, as a WebSocket subscription must.
   */
  private async mustOwnResumedTurn(seedId: string, body: Buffer): Promise<void> {
    const fields = JSON.parse(body.toString('utf8') || '{}') as { conversation_id?: unknown; turn_exchange_id?: unknown };
    if (typeof fields.conversation_id !== 'string' || fields.conversation_id === '') throw ApiError.of('conversation_not_found', {});
    const turn = fields.turn_exchange_id;
    if (turn === undefined || turn === null) return;
    if (typeof turn !== 'string' || !(await this.turns.owns(seedId, `conversation-turn-${turn}`)))
      throw ApiError.of('conversation_not_found', {});
  }

  private async mustOwn(seedId: string, conversationId: string): Promise<void> {
    if (!(await this.seeds.ownsConversation(seedId, conversationId))) throw ApiError.of('conversation_not_found', {});
  }

  /** Every one of `conversationIds` the seed's, its list read once (a body may list thousands). */
  private async mustOwnAll(seedId: string, conversationIds: string[]): Promise<void> {
    if (conversationIds.length === 0) return;
    const owned = new Set((await this.seeds.conversationsOfSeedId(seedId)).map((id) => id.toLowerCase()));
    if (!conversationIds.every((id) => owned.has(id.toLowerCase()))) throw ApiError.of('conversation_not_found', {});
  }

  /**
   * `GET /backend-api/conversations` for a seed: the account's list, read page by page, keeping only the seed's
   * own conversations (deleted ones drop out, archived ones follow `is_archived`); `total` counts all of them.
   */
  private async ownList(response: Response, caller: GatewayCaller, seedId: string, query: URLSearchParams): Promise<void> {
    const offset = Math.max(0, Number.parseInt(query.get('offset') ?? '0', 10) || 0);
    const limit = Math.min(LIST_PAGE, Math.max(1, Number.parseInt(query.get('limit') ?? '', 10) || DEFAULT_LIST_LIMIT));
    const archived = query.get('is_archived') === 'true';
    const owned = new Set((await this.seeds.conversationsOfSeedId(seedId)).map((id) => id.toLowerCase()));
    const found: Array<Record<string, unknown>> = [];
    for (let page = 0; owned.size > found.length && page < MAX_LIST_PAGES; page++) {
      const items = await this.listPage(caller, page * LIST_PAGE, archived, query.get('order'));
      for (const item of items) if (typeof item?.id === 'string' && owned.has(item.id.toLowerCase())) found.push(item);
      if (items.length < LIST_PAGE) break;
    }
    const document = { items: found.slice(offset, offset + limit), total: found.length, limit, offset, has_missing_conversations: false };
    const text = this.proxy.secretsRewriter(caller).apply(JSON.stringify(document)).text;
    response.status(200).setHeader('content-type', 'application/json; charset=utf-8');
    response.setHeader('cache-control', 'private, no-store');
    response.end(text);
  }

  private async listPage(
    caller: GatewayCaller,
    offset: number,
    archived: boolean,
    order: string | null,
  ): Promise<Array<Record<string, unknown>>> {
    const query = new URLSearchParams({ offset: String(offset), limit: String(LIST_PAGE), order: order ?? 'updated' });
    if (archived) query.set('is_archived', 'true');
    const answer = await this.upstream.request({
      method: 'GET',
      url: `${this.hosts.backendBase()}/backend-api/conversations?${query.toString()}`,
      identity: upstreamIdentityOf(caller),
      step: 'gateway',
    });
    let items: unknown;
    try {
      items = answer.status === 200 ? (JSON.parse(answer.body.toString('utf8')) as { items?: unknown }).items : undefined;
    } catch {
      items = undefined;
    }
    if (!Array.isArray(items))
      throw ApiError.of('conversation_list_unreadable', {}, { upstream: { step: 'gateway', status: answer.status } });
    return items as Array<Record<string, unknown>>;
  }
}

const READS = new Set(['GET', 'HEAD']);
/** A project's id (a GPT of the account's own, `g-p-<32 hex>`), as in `/g/g-p-…` (seed-rules.ts). */
const PROJECT_ID = /^g-p-[0-9a-f]{32}/i;
/** The recovery of a handed-off turn (gateway-live-ui.md §4.5). */
const RESUME_POST = /^\/backend-api\/(?:f\/)?conversation\/resume$/i;

/**
 * Each of `fileIds` one the seed uploaded or its conversations received (`seedFiles`, read only when there is one to
 * check); any other is not found, as another's conversation is.
 */
async function mustAllBeIn(fileIds: string[], seedFiles: () => Promise<string[]>): Promise<void> {
  if (fileIds.length === 0) return;
  const owned = new Set(await seedFiles());
  if (!fileIds.every((id) => owned.has(id))) throw ApiError.of('seed_file_not_found', {});
}

function recordsFiles(decision: Extract<SeedDecision, { kind: 'pass' }>): boolean {
  return Boolean(
    decision.recordsFiles || decision.recordsConversation || decision.bodyConversationList || decision.conversationIds?.length,
  );
}

/** A write whose body is bytes (an upload), not a document that could name a file. */
function isUpload(request: Request): boolean {
  return /^\s*(?:multipart\/|application\/octet-stream|image\/|audio\/|video\/)/i.test(String(request.headers['content-type'] ?? ''));
}

/** The file ids a query names: any value shaped like one (an asset pointer too), and every value of `keys` (none is refused). */
function filesNamedInQuery(params: URLSearchParams, keys: readonly string[]): string[] {
  const named: string[] = [];
  for (const key of keys) {
    const values = params.getAll(key);
    if (values.length === 0) throw ApiError.of('seed_file_not_found', {});
    named.push(...values);
  }
  for (const value of params.values()) {
    const id = fileIdOf(value);
    if (id) named.push(id);
  }
  return named;
}

/**
 * A write's body as JSON, for the ids it may name anywhere. A body sent as JSON (or with no type, which servers read
 * as JSON) that this parser cannot read, and that could spell a file or project id, is refused for the reason
 * `conversationNamedIn` gives; one of another type names none. JSON in UTF-16 or UTF-32 (which a server that detects
 * the encoding, as Python's json does, reads) has a NUL byte in every character of the ids it spells: such a body is
 * taken to spell one.
 */
function writtenDocument(body: Buffer, request: Request): unknown {
  if (body.length === 0) return undefined;
  const parsed = jsonOf(body);
  if (parsed) return parsed.document;
  const type = String(request.headers['content-type'] ?? '').trim();
  const mayNameId = /file|g-p-|\\u|\0/i.test(body.toString('latin1'));
  if (mayNameId && (type === '' || /json/i.test(type))) throw ApiError.invalidRequest('The request body must be JSON.', 'invalid_json');
  return undefined;
}

/** What a request body's JSON holds (null when it is not JSON), parsed once however many checks read it. */
const parsedBodies = new WeakMap<Buffer, { document: unknown } | null>();
function jsonOf(body: Buffer): { document: unknown } | null {
  let parsed = parsedBodies.get(body);
  if (parsed === undefined) {
    try {
      parsed = { document: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      parsed = null;
    }
    parsedBodies.set(body, parsed);
  }
  return parsed;
}

/** Every string in a JSON document, keys aside. */
function stringsOf(value: unknown, depth = 0): string[] {
  if (typeof value === 'string') return [value];
  if (depth > 64 || typeof value !== 'object' || value === null) return [];
  return Object.values(value as Record<string, unknown>).flatMap((item) => stringsOf(item, depth + 1));
}

function refused(): ApiError {
  return ApiError.of('seed_restricted', {});
}

/**
 * The `conversation_id` a JSON body names, if any. A body that is not a JSON object, or names one other than as a
 * string, is refused: what this parser cannot read must not reach the upstream as the account, whose parser may
 * read it (one that takes NaN, a byte-order mark or UTF-16 would find a conversation that was never checked).
 * An empty body (a DELETE's) names none.
 */
function conversationNamedIn(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  const parsed = jsonOf(body);
  if (!parsed) throw unreadableBody();
  const { document } = parsed;
  if (!document || typeof document !== 'object' || Array.isArray(document)) throw unreadableBody();
  const named = (document as { conversation_id?: unknown }).conversation_id;
  if (named === undefined || named === null || named === '') return undefined;
  if (typeof named !== 'string') throw unreadableBody();
  return named;
}

/**
 * The `conversation_ids` a JSON body lists (`conversations/batch`). A body that is not a JSON object with that list,
 * of strings only, is refused, for the reason `conversationNamedIn` gives.
 */
function conversationsListedIn(body: Buffer): string[] {
  const parsed = jsonOf(body);
  if (!parsed) throw unreadableBody();
  const { document } = parsed;
  const listed =
    document && typeof document === 'object' && !Array.isArray(document)
      ? (document as { conversation_ids?: unknown }).conversation_ids
      : undefined;
  if (!Array.isArray(listed) || !listed.every((id) => typeof id === 'string')) throw unreadableList();
  return listed;
}

function unreadableList(): ApiError {
  return ApiError.invalidRequest('The request body must be a JSON object whose conversation_ids is a list of strings.', 'invalid_json');
}

function unreadableBody(): ApiError {
  return ApiError.invalidRequest('The request body must be a JSON object, with conversation_id a string if it has one.', 'invalid_json');
}

/** accounts/check without the account's real user id (the UI reads the account id, kept) or workspace name. */
function withoutAccountUser(document: unknown): unknown {
  const accounts = (document as { accounts?: Record<string, { account?: Record<string, unknown> }> } | null)?.accounts;
  if (accounts && typeof accounts === 'object') {
    for (const entry of Object.values(accounts)) {
      const account = entry?.account;
      if (!account || typeof account !== 'object') continue;
      if (typeof account.account_id === 'string') account.account_user_id = `user-flowgpt__${account.account_id}`;
      if (typeof account.name === 'string') account.name = 'Shared workspace';
    }
  }
  return document;
}
