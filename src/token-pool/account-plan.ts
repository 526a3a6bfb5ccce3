import type { PlanTier } from '../common/vocabulary/plan-tier';
import type { AccountRecord } from './pool.types';

/**
 * The pool's plan memory, one field of the account record (`plan`, stored and shared like every other field):
 * the plan name of the account's AccessToken claims (`chatgpt_plan_type`: `free`, `plus`, `team`, …), taken when a
 * token comes in (upload, renewal), and corrected by what the upstream says as the account is used (its sentinel
 * persona, a paid-only model refused): then `free` or `paid`. The newest word wins, since a plan can change either way.
 */

/** The tier a plan name stands for: `free` is free, any other plan is paid; unknown without a plan. */
export function planTierOf(plan: string | undefined): PlanTier | undefined {
  if (plan === undefined) return undefined;
  return plan === 'free' ? 'free' : 'paid';
}

/** The record with the plan the upstream just showed; undefined when the record already says as much. */
export function withLearnedPlan(record: AccountRecord, tier: PlanTier): AccountRecord | undefined {
  return planTierOf(record.plan) === tier ? undefined : { ...record, plan: tier };
}

/**
 * Whether the account may be handed a request for a model: any account for a model every plan has, and for a
 * paid-only model any account not known to be free (an unknown plan is tried, and so learnt).
 */
export function planMayServe(record: AccountRecord, paidOnly: boolean): boolean {
  return !paidOnly || planTierOf(record.plan) !== 'free';
}
