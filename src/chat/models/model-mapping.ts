import table from './model-table.json';

export interface ResolvedModel {
  /** What the client asked for. */
  requested: string;
  /** The upstream model slug. */
  slug: string;
  /** The GPT to talk to, for `gizmo-g-…`, `gpt-4-gizmo-g-…` and `g-…` names. */
  gizmoId?: string;
  /** The model name echoed back in answers: the requested one, unchanged (openai-api.md §4.3). */
  echoed: string;
  /** Only paid plans may use this slug. */
  paidOnly: boolean;
}

export const DEFAULT_REQUESTED_MODEL = table.requestDefault;

const SLUGS = new Map<string, string>(Object.entries(table.slugs));
/** A snapshot's release date: `-2024-08-06`, `-0613`, `-1106-preview`. */
const RELEASE_DATE = /-(?:\d{4}-\d{2}-\d{2}|\d{4})(?:-preview)?$/;
/** How the upstream spells its slugs (`gpt-5`, `gpt-4-5`, `o4-mini-high`): these go upstream as they are. */
const UPSTREAM_SLUG_SHAPE = /^(?:gpt-\d|o\d)[a-z0-9]*(?:-[a-z0-9]+)*$/;
/** How a GPT's name starts: `g-`, `gizmo-g-` or `gpt-4-gizmo-g-`; group 1 is the model prefix of the last. */
const GIZMO_PREFIX = /^(?:g-|(?:(gpt-4)-)?gizmo-g-)/;
/** Group 1: the model prefix of `gpt-4-gizmo-g-…`; group 2: the GPT's id without its `g-`. */
const GIZMO_PATTERN = new RegExp(`${GIZMO_PREFIX.source}([A-Za-z0-9_-]+)$`);

/** Maps a requested model name to the upstream slug and the name to echo (openai-api.md §4, "Ours"). */
export function resolveModel(requested: string): ResolvedModel {
  const name = requested.trim();
  const gizmo = GIZMO_PATTERN.exec(name);
  // A GPT's id is random letters: only the name's fixed prefix chooses the model.
  const slug = gizmo ? (gizmo[1] ? slugOf(gizmo[1]) : table.default) : slugOf(name);
  return {
    requested: name,
    slug,
    gizmoId: gizmo ? `g-${gizmo[2]}` : undefined,
    echoed: name,
    paidOnly: table.paidOnly.includes(slug),
  };
}

/**
 * A table key matches the whole name (or the name with a release date), never a part of it: `gpt-4-5` is not `gpt-4`.
 * The table holds the API names the web spells differently or lacks; a name spelled like an upstream slug that the
 * table does not know (a newer model, as an account's `/v1/models` lists it) goes upstream unchanged; anything else
 * gets the default.
 */
function slugOf(name: string): string {
  const undated = name.replace(RELEASE_DATE, '');
  return SLUGS.get(undated) ?? (UPSTREAM_SLUG_SHAPE.test(undated) ? undated : table.default);
}

/** Whether the name selects a GPT (`g-…`, `gizmo-g-…`, `gpt-4-gizmo-g-…`). */
export function isGizmoName(name: string): boolean {
  return GIZMO_PATTERN.test(name.trim());
}

/** Whether the name starts as a GPT's does, well formed (`isGizmoName`) or not: no model of the list is named so. */
export function hasGizmoPrefix(name: string): boolean {
  return GIZMO_PREFIX.test(name.trim());
}

/** Client-facing names that map to an upstream slug, for `/v1/models`. */
export function listedModelNames(): readonly string[] {
  return table.listed;
}
