import { resolve } from 'node:path';
import { maskUrlCredentials } from '../util/secrets';

/** What the start-up log reports; gathered by `main.ts` once the server listens. */
export interface StartupFacts {
  port: number;
  /** Whether the API sits under `/<API_PREFIX>` (the prefix itself is a secret and is never printed). */
  apiPrefixed: boolean;
  adminEnabled: boolean;
  accounts: number;
  /** `REDIS_URL` when set, else the file store's `DATA_DIR`. */
  redisUrl?: string;
  redisPrefix: string;
  dataDir: string;
  poolKeys: number;
  upstreams: string[];
}

/** The few lines a newcomer needs after `npm start`: where to go, what was loaded, and what is missing. */
export function startupSummary(facts: StartupFacts): { lines: string[]; warnings: string[] } {
  const base = `http://localhost:${facts.port}`;
  const api = `${base}${facts.apiPrefixed ? '/<API_PREFIX>' : ''}/v1`;
  const store = facts.redisUrl
    ? `Redis ${maskUrlCredentials(facts.redisUrl)} (key prefix ${facts.redisPrefix})`
    : `the file store at ${resolve(facts.dataDir)}`;
  const lines = [
    `Listening on ${base}: OpenAI base URL ${api}${facts.adminEnabled ? `, admin at ${base}/admin` : ''}`,
    `Pool: ${plural(facts.accounts, 'account')} loaded from ${store}`,
    `Pool keys (AUTHORIZATION): ${facts.poolKeys === 0 ? 'none set' : `${facts.poolKeys} set`}`,
    `Upstream: ${facts.upstreams.map(maskUrlCredentials).join(', ')}`,
  ];
  const warnings: string[] = [];
  if (facts.poolKeys === 0 && facts.accounts === 0) {
    const addAccounts = facts.adminEnabled ? `add accounts at ${base}/admin` : 'set ADMIN_KEY and add accounts at /admin';
    warnings.push(`Nothing is configured yet (no pool keys, no accounts): send an AccessToken as the API key, or ${addAccounts}`);
  }
  return { lines, warnings };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
