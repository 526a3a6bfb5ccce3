import type { Logger } from '@nestjs/common';
import { maskSecret } from '../common/util/secrets';
import { isRenewable } from './account-record';
import type { AccountRecord } from './pool.types';
import type { AccountStore } from './stores/account-store';

/**
 * Takes an account out of service (expired or disabled) with a reason for the admin, once: a disabled account
 * stays disabled, and a repeat of the same transition neither writes nor logs again. Shared by leasing
 * (an upstream verdict) and refresh (a rejected RefreshToken).
 */
export async function setAccountState(
  store: AccountStore,
  logger: Logger,
  id: string,
  state: 'expired' | 'disabled',
  reason: string,
  /** Checked on the record as it is when written: false leaves it (it changed since the verdict was made, e.g. a new AccessToken). */
  stillApplies: (current: AccountRecord) => boolean = () => true,
): Promise<void> {
  const updated = await store.updateAccount(id, (current) => {
    if (current.state === 'disabled' || (current.state === state && current.stateReason === reason)) return undefined;
    if (!stillApplies(current)) return undefined;
    if (state === 'expired') return { ...current, state, stateReason: reason };
    return { ...current, ...withoutRefusedAccessToken(current), state, stateReason: reason, failures: current.failures + 1 };
  });
  if (updated?.state === state && updated.stateReason === reason)
    logger.warn(`Account ${id} (${maskSecret(updated.token)}) ${state}: ${reason}`);
}

/**
 * A RefreshToken or SessionToken account that is expired had its AccessToken refused upstream (a 401; see
 * `AccountLeaser.report`): disabled, it keeps no AccessToken, or a restore would serve the refused one again.
 */
function withoutRefusedAccessToken(record: AccountRecord): Partial<AccountRecord> {
  return isRenewable(record.kind) && record.state === 'expired' ? { accessToken: undefined, accessTokenExpiresAt: undefined } : {};
}

/** The store lock a store-wide change holds, and how long it waits for it. */
export const LOCK_TTL_MS = 60_000;
export const LOCK_WAIT_MS = 30_000;
