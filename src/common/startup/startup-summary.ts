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
  /** `ENABLE_GATEWAY`: the browser sign-in pages exist. */
  gatewayEnabled: boolean;
  /** `PUBLIC_URL` (an origin), where people open the pages and the API behind a reverse proxy. */
  publicUrl?: string;
}

/** The few lines a newcomer needs after `npm start`: where to go, what was loaded, and what is missing. */
export function startupSummary(facts: StartupFacts): { lines: string[]; warnings: string[] } {
  const local = `http://localhost:${facts.port}`;
  // Behind a reverse proxy the pages work at the public origin only (their same-origin checks read it).
  const base = facts.publicUrl ?? local;
  const api = `${base}${facts.apiPrefixed ? '/<API_PREFIX>' : ''}/v1`;
  const store = facts.redisUrl
    ? `Redis ${maskUrlCredentials(facts.redisUrl)} (key prefix ${facts.redisPrefix})`
    : `the file store at ${resolve(facts.dataDir)}`;
  const lines = [
    `Listening on ${local}${facts.publicUrl ? ` (public URL ${base})` : ''}: OpenAI base URL ${api}${facts.adminEnabled ? `, admin at ${base}/admin` : ''}`,
    ...(facts.gatewayEnabled ? [`Browser sign-in at ${base}/auth/login`] : []),
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
