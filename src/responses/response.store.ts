import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../config/app-config';
import type { Continuation } from './response-input';
import type { ResponseObject } from './response-shapes';

export interface StoredResponse {
  /** Whose response it is: a digest of the API key that created it. */
  owner: string;
  response: ResponseObject;
  /** The upstream conversation and the message to continue from (absent when the answer never finished). */
  continuation?: Continuation;
}

/** Stored responses are whole answers; the total is capped so a run of long ones cannot exhaust memory. */
const MAX_TOTAL_CHARS = 64 * 1024 * 1024;

/**
 * Responses created with `store: true`, for `GET /v1/responses/{id}` and `previous_response_id`. In memory,
 * bounded by count (`RESPONSES_STORE_MAX`), age (`RESPONSES_STORE_TTL_SEC`) and total size, least recently used
 * first out; a restart forgets them, and instances behind a load balancer do not share them.
 */
@Injectable()
export class ResponseStore {
  private readonly responses: LRUCache<string, StoredResponse>;

  constructor(config: AppConfig) {
    this.responses = new LRUCache<string, StoredResponse>({
      max: config.responsesStoreMax,
      ttl: config.responsesStoreTtlSec * 1000,
      maxSize: MAX_TOTAL_CHARS,
      sizeCalculation: (stored) => Math.max(1, JSON.stringify(stored.response).length),
    });
  }

  save(stored: StoredResponse): void {
    this.responses.set(stored.response.id, structuredClone(stored));
  }

  /** The response, only for the key that created it: to any other key it does not exist. */
  find(id: string, owner: string): StoredResponse | undefined {
    const stored = this.responses.get(id);
    return stored && stored.owner === owner ? structuredClone(stored) : undefined;
  }
}
