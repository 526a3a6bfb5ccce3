/**
 * What an account's plan lets it use, as far as the pool tells accounts apart: `paid` may use the paid-only models
 * (the mapping table's `paidOnly` slugs; upstream-protocol.md §3.3), `free` may not. Said by the chat side (the
 * sentinel's persona, a paid-only model refused) and remembered by the pool with the account.
 */
export type PlanTier = 'free' | 'paid';
