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

const SLUG_KEYS = Object.keys(table.slugs).sort((a, b) => b.length - a.length);
const SLUGS: Record<string, string> = table.slugs;
/** Group 1: the model prefix of `gpt-4-gizmo-g-…`; group 2: the GPT's id without its `g-`. */
const GIZMO_PATTERN = /^(?:g-|(?:(gpt-4)-)?gizmo-g-)([A-Za-z0-9_-]+)$/;

/** Maps a requested model name to the upstream slug and the name to echo (openai-api.md §4, "Ours"). */
export function resolveModel(requested: string): ResolvedModel {
  const name = requested.trim();
  const gizmo = GIZMO_PATTERN.exec(name);
  // A GPT's id is random letters: only the fixed prefix may choose the model, else `o1` in `gizmo-g-o1XyZ` would.
  const slug = gizmo ? (gizmo[1] ? slugOf(gizmo[1]) : table.default) : slugOf(name);
  return {
    requested: name,
    slug,
    gizmoId: gizmo ? `g-${gizmo[2]}` : undefined,
    echoed: name,
    paidOnly: table.paidOnly.includes(slug),
  };
}

function slugOf(name: string): string {
  const key = SLUG_KEYS.find((candidate) => name.includes(candidate));
  return key ? SLUGS[key] : table.default;
}

/** Whether the name selects a GPT (`g-…`, `gizmo-g-…`, `gpt-4-gizmo-g-…`). */
export function isGizmoName(name: string): boolean {
  return GIZMO_PATTERN.test(name.trim());
}

/** Client-facing names that map to an upstream slug, for `/v1/models`. */
export function listedModelNames(): readonly string[] {
  return table.listed;
}
