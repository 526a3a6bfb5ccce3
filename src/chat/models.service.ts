import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { ApiCredential } from '../auth/api-credential';
import { CredentialService } from '../auth/credential.service';
import { UpstreamClient } from '../upstream/upstream.client';
import { listedModelNames, resolveModel } from './models/model-mapping';

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

const CACHE_TTL_MS = 5 * 60_000;
/** One entry per pool account; more than that many accounts share the least recently listed ones' room. */
const MAX_CACHED_ACCOUNTS = 10_000;
const MODELS_TIMEOUT_MS = 10_000;
const HIDDEN_SLUGS = new Set(['auto', 'gpt-4o-canmore']);
// A fixed date: OpenAI's `created` is when a model was published, not when it was listed.
const CREATED = 1_715_367_049;

/**
 * `/v1/models`: the account's upstream models merged with the mapping table's client names,
 * cached per account for a few minutes; the static table when the upstream cannot be asked.
 */
@Injectable()
export class ModelsService {
  private readonly logger = new Logger(ModelsService.name);
  private readonly cache = new LRUCache<string, Set<string>>({ max: MAX_CACHED_ACCOUNTS, ttl: CACHE_TTL_MS });

  constructor(
    private readonly credentials: CredentialService,
    private readonly upstream: UpstreamClient,
  ) {}

  async list(credential: ApiCredential): Promise<ModelList> {
    const slugs = await this.accountSlugs(credential);
    const ids = new Set<string>();
    for (const name of listedModelNames()) {
      if (!slugs || slugs.has(resolveModel(name).slug)) ids.add(name);
    }
    for (const slug of slugs ?? []) if (!HIDDEN_SLUGS.has(slug)) ids.add(slug);
    return { object: 'list', data: [...ids].map((id) => ({ id, object: 'model', created: CREATED, owned_by: ownerOf(id) })) };
  }

  private async accountSlugs(credential: ApiCredential): Promise<Set<string> | null> {
    let use;
    try {
      use = await this.credentials.acquire(credential, new Set());
    } catch (error) {
      this.logger.warn(`listing models without an account: ${(error as Error).message}`);
      return null;
    }
    if (!use) return null;
    const cached = this.cache.get(use.fingerprintKey);
    if (cached) return cached;
    try {
      const baseUrl = this.upstream.pickBaseUrl();
      const response = await this.upstream.request({
        url: `${baseUrl}/backend-api/models`,
        identity: { accessToken: use.accessToken, chatgptAccountId: use.chatgptAccountId, fingerprint: this.upstream.fingerprint(use.fingerprintKey) },
        timeoutMs: MODELS_TIMEOUT_MS,
        step: 'models',
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      const body = JSON.parse(response.body.toString('utf8')) as { models?: { slug?: unknown }[] };
      const slugs = new Set((body.models ?? []).map((model) => model.slug).filter((slug): slug is string => typeof slug === 'string'));
      if (slugs.size === 0) throw new Error('no models');
      this.cache.set(use.fingerprintKey, slugs);
      return slugs;
    } catch (error) {
      this.logger.warn(`could not read the account's models, listing the static table: ${(error as Error).message}`);
      return null;
    }
  }
}

function ownerOf(id: string): string {
  return id.startsWith('gpt-') || /^o\d/.test(id) ? 'openai' : 'flowgpt';
}
