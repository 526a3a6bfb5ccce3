import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { ApiError } from '../common/errors/api-error';
import type { ApiCredential } from '../auth/api-credential';
import { AccountUse, CredentialService } from '../auth/credential.service';
import { UpstreamClient } from '../upstream/upstream.client';
import { hasGizmoPrefix, isGizmoName, listedModelNames, resolveModel } from './models/model-mapping';
import { workspaceKey } from '../auth/account-key';

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: ModelEntry[];
}

const ACCOUNT_CACHE_TTL_MS = 5 * 60_000;
/** The pool's union is re-asked at most once a minute: it costs one upstream call per account not cached. */
const POOL_CACHE_TTL_MS = 60_000;
const CACHE_MAX_ACCOUNTS = 1_000;
/** Bounds one pool listing: the union is built from at most this many accounts, a few at a time. */
const POOL_MAX_ACCOUNTS = 50;
const POOL_CONCURRENCY = 4;
const MODELS_TIMEOUT_MS = 10_000;
const HIDDEN_SLUGS = new Set(['auto', 'gpt-4o-canmore']);
// A fixed date: OpenAI's `created` is when a model was published, not when it was listed.
const CREATED = 1_715_367_049;

/**
 * `/v1/models`: the account's upstream models merged with the mapping table's client names, cached per
 * account for a few minutes; for a pool key the union over the pool's usable accounts, cached a minute;
 * the static table when the upstream cannot be asked.
 */
@Injectable()
export class ModelsService {
  private readonly logger = new Logger(ModelsService.name);
  private readonly accountSlugCache = new LRUCache<string, Set<string>>({ max: CACHE_MAX_ACCOUNTS, ttl: ACCOUNT_CACHE_TTL_MS });
  private readonly poolSlugCache = new LRUCache<'pool', Set<string>>({ max: 1, ttl: POOL_CACHE_TTL_MS });

  constructor(
    private readonly credentials: CredentialService,
    private readonly upstream: UpstreamClient,
  ) {}

  async list(credential: ApiCredential): Promise<ModelList> {
    const slugs = credential.kind === 'pool' ? await this.poolSlugs() : await this.credentialSlugs(credential);
    const ids = new Set<string>();
    for (const name of listedModelNames()) {
      if (!slugs || slugs.has(resolveModel(name).slug)) ids.add(name);
    }
    for (const slug of slugs ?? []) if (!HIDDEN_SLUGS.has(slug)) ids.add(slug);
    return { object: 'list', data: [...ids].map(modelEntry) };
  }

  /**
   * `/v1/models/{id}`: a listed model, or a GPT (`gizmo-g-…`) named exactly as the chat route takes one, else 404
   * `model_not_found`. A name that starts as a GPT's is answered without the list, so without an upstream call.
   */
  async retrieve(credential: ApiCredential, id: string): Promise<ModelEntry> {
    if (hasGizmoPrefix(id)) {
      if (id === id.trim() && isGizmoName(id)) return modelEntry(id);
      throw ApiError.modelNotFound(id);
    }
    const listed = (await this.list(credential)).data.find((model) => model.id === id);
    if (!listed) throw ApiError.modelNotFound(id);
    return listed;
  }

  private async credentialSlugs(credential: ApiCredential): Promise<Set<string> | null> {
    let use;
    try {
      use = await this.credentials.acquire(credential, new Set());
    } catch (error) {
      this.logger.warn(`listing models without an account: ${(error as Error).message}`);
      return null;
    }
    return use ? this.accountSlugs(use) : null;
  }

  /** The union of what the pool's usable accounts offer; null (the static table) when none answered. */
  private async poolSlugs(): Promise<Set<string> | null> {
    const cached = this.poolSlugCache.get('pool');
    if (cached) return cached;
    const uses: AccountUse[] = [];
    const tried = new Set<string>();
    try {
      while (uses.length < POOL_MAX_ACCOUNTS) {
        const use = await this.credentials.acquire({ kind: 'pool' }, tried);
        if (!use?.poolAccountId) break;
        tried.add(use.poolAccountId);
        uses.push(use);
      }
    } catch (error) {
      this.logger.warn(`could not walk the pool for its models: ${(error as Error).message}`);
    }
    const union = new Set<string>();
    let answered = 0;
    for (let at = 0; at < uses.length; at += POOL_CONCURRENCY) {
      for (const slugs of await Promise.all(uses.slice(at, at + POOL_CONCURRENCY).map((use) => this.accountSlugs(use)))) {
        if (!slugs) continue;
        answered++;
        for (const slug of slugs) union.add(slug);
      }
    }
    if (answered === 0) return null;
    this.poolSlugCache.set('pool', union);
    return union;
  }

  private async accountSlugs(use: AccountUse): Promise<Set<string> | null> {
    const cached = this.accountSlugCache.get(workspaceKey(use));
    if (cached) return cached;
    try {
      const baseUrl = this.upstream.pickBaseUrl();
      const response = await this.upstream.request({
        url: `${baseUrl}/backend-api/models`,
        identity: this.upstream.accountIdentity(use),
        timeoutMs: MODELS_TIMEOUT_MS,
        step: 'models',
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      const body = JSON.parse(response.body.toString('utf8')) as { models?: { slug?: unknown }[] };
      const slugs = new Set((body.models ?? []).map((model) => model.slug).filter((slug): slug is string => typeof slug === 'string'));
      if (slugs.size === 0) throw new Error('no models');
      this.accountSlugCache.set(workspaceKey(use), slugs);
      return slugs;
    } catch (error) {
      this.logger.warn(`could not read the account's models, listing the static table: ${(error as Error).message}`);
      return null;
    }
  }
}

function modelEntry(id: string): ModelEntry {
  return { id, object: 'model', created: CREATED, owned_by: ownerOf(id) };
}

function ownerOf(id: string): string {
  return id.startsWith('gpt-') || /^o\d/.test(id) ? 'openai' : 'flowgpt';
}
