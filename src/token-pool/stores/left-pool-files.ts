import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ACCOUNTS_FILE, SEEDS_FILE } from './file-account-store';

/** What the file store left under a `DATA_DIR`: counts only, no token is read out of it. */
export interface LeftPoolFiles {
  accountsPath: string;
  accounts: number;
  seedsPath: string;
  seeds: number;
}

/**
 * The pool the file store keeps in `dataDir`, when it holds any accounts or seeds; null when it holds none or its files
 * cannot be read (a server on Redis does not use them, so they are not its start problem).
 */
export async function leftPoolFiles(dataDir: string): Promise<LeftPoolFiles | null> {
  const accountsPath = resolve(dataDir, ACCOUNTS_FILE);
  const seedsPath = resolve(dataDir, SEEDS_FILE);
  const { accounts } = await readJson(accountsPath);
  const { seeds } = await readJson(seedsPath);
  const left = {
    accountsPath,
    accounts: Array.isArray(accounts) ? accounts.length : 0,
    seedsPath,
    seeds: typeof seeds === 'object' && seeds !== null ? Object.keys(seeds).length : 0,
  };
  return left.accounts > 0 || left.seeds > 0 ? left : null;
}

/**
 * Switching an install to Redis (`REDIS_URL`) starts it on what Redis holds: this names the files left behind, their
 * counts and how to move them (`IMPORT_FILE_POOL`, or by hand), and never a token.
 */
export function leftPoolWarning(left: LeftPoolFiles): string {
  const held: string[] = [];
  const moves: string[] = [];
  if (left.accounts > 0) {
    held.push(`${left.accountsPath} (${left.accounts} account${left.accounts === 1 ? '' : 's'})`);
    moves.push(`upload the accounts' tokens again at /admin (jq -r '.accounts[].token' ${left.accountsPath} lists them)`);
  }
  if (left.seeds > 0) {
    held.push(`${left.seedsPath} (${left.seeds} seed${left.seeds === 1 ? '' : 's'})`);
    moves.push('create the seeds again with the same values (POST /admin/api/seeds {"seed": …}; they are the keys of seeds.json)');
  }
  return (
    `REDIS_URL is set, so the pool is the one in Redis: the file store's ${held.join(' and ')} ${held.length > 1 ? 'are' : 'is'} ` +
    'not used, nor are the sign-ins under DATA_DIR/state. To move them, start once with IMPORT_FILE_POOL=true (copies the ' +
    `accounts, seeds and stored token rotations while Redis holds no account), or ${moves.join(' and ')}; or unset ` +
    'REDIS_URL to keep using the files. Once they are moved, this warning stops (or rename the files).'
  );
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
