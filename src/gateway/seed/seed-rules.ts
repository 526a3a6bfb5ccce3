import { createHash } from 'node:crypto';
import { fileIdOf } from './file-ids';

/**
 * What a shared (seed) user may do on the proxied backend (gateway.md §4 with its "Ours" notes), as one table
 * and one classifier. The table names every sensitive or settings endpoint: GETs that answer a blank value, and
 * paths refused for every method. A path the table does not know is neither refused outright (the web app gains
 * routes every week) nor passed raw: a read passes with the account's identifiers scrubbed from its body, a write
 * to an account-level setting is refused, any other write (a conversation, an upload) passes. Conversation ids in
 * the path, the query or the body of a write to a conversation route must be the seed's own.
 */

/** What the gateway does with one seed request. */
export type SeedDecision =
  /** Answered here with this JSON (a GET of the table). */
  | { kind: 'blank'; body: (seedId: string) => unknown }
  /** 403: an account-level route. */
  | { kind: 'refuse' }
  /** The seed's own conversations, filtered from the account's list. */
  | { kind: 'own_list' }
  /** Proxied; the JSON answer adjusted (`accounts/check`: no real user id or workspace name). */
  | {
      kind: 'pass';
      adjust?: 'accounts_check';
      /** Every id in the path: each must be one of the seed's conversations. */
      conversationIds?: string[];
      /** The JSON body may name a conversation (`conversation_id`), which must be the seed's too. */
      bodyConversation?: boolean;
      /** The JSON body lists conversations (`conversation_ids`), each of which must be the seed's. */
      bodyConversationList?: boolean;
      recordsConversation?: boolean;
      /** File ids in the path: each must be one the seed uploaded or its conversations received. */
      fileIds?: string[];
      /** Query keys whose every value is a file id, whatever its shape, which must be the seed's (one at least). */
      queryFiles?: string[];
      /**
       * The answer names files that become the seed's: an upload's, and (whether or not this is set) those of a
       * conversation the seed owns (`conversationIds`, `bodyConversationList`) or creates (`recordsConversation`).
       */
      recordsFiles?: boolean;
    };

type MethodMatch = 'GET' | 'ANY' | ReadonlyArray<string>;

interface SeedTableEntry {
  method: MethodMatch;
  path: RegExp;
  decision: SeedDecision;
}

const emptyItems = { items: [], cursor: null };

/** The seed's stand-in profile: built from its public id, never from the seed or the account. */
export function seedProfile(seedId: string): Record<string, unknown> {
  const hash = createHash('md5').update(seedId).digest('hex');
  return {
    object: 'user',
    id: `user-${seedId}`,
    email: `${seedId}@flowgpt.invalid`,
    name: 'FlowGPT User',
    picture: `/avatar/${hash}?s=480&r=pg&d=identicon`,
    created: 1_715_641_300,
    phone_number: null,
    mfa_flag_enabled: false,
    amr: [],
    groups: [],
    has_payg_project_spend_limit: true,
    orgs: {
      object: 'list',
      data: [
        {
          object: 'organization',
          id: 'org-flowgpt',
          created: 1_715_641_300,
          title: 'Personal',
          name: `user-${seedId}`,
          description: 'Personal org',
          personal: true,
          settings: { threads_ui_visibility: 'NONE', usage_dashboard_visibility: 'ANY_ROLE', disable_user_api_keys: false },
          parent_org_id: null,
          is_default: true,
          role: 'owner',
          is_scale_tier_authorized_purchaser: null,
          is_scim_managed: false,
          projects: { object: 'list', data: [] },
          groups: [],
          geography: null,
        },
      ],
    },
  };
}

const blank = (body: unknown): SeedDecision => ({ kind: 'blank', body: () => body });
const REFUSE: SeedDecision = { kind: 'refuse' };
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const WRITES = ['POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * The table, first match wins. Blank GETs first (§4.2), then the deny-list (§4.3, every method; each entry bans
 * every path that begins with it), with the reference's gaps (team members, share links) closed. Every entry reads a
 * path whatever its letter case, as the conversation routes are read: an upstream that routes without regard to case
 * must not reach the account's whole list by `/backend-api/Conversations`.
 */
export const SEED_TABLE: ReadonlyArray<SeedTableEntry> = [
  { method: 'GET', path: /^\/backend-api\/me$/i, decision: { kind: 'blank', body: seedProfile } },
  {
    method: 'GET',
    path: /^\/backend-api\/user_system_messages$/i,
    decision: blank({
      object: 'user_system_message_detail',
      enabled: false,
      about_user_message: '',
      about_model_message: '',
      name_user_message: '',
      role_user_message: '',
      traits_model_message: '',
      other_user_message: '',
      disabled_tools: [],
    }),
  },
  { method: 'GET', path: /^\/backend-api\/memories$/i, decision: blank({ memories: [], memory_max_tokens: 2000, memory_num_tokens: 0 }) },
  {
    method: 'GET',
    path: /^\/backend-api\/shared_conversations$/i,
    decision: blank({ items: [], total: 0, limit: 50, offset: 0, has_missing_conversations: false }),
  },
  { method: 'GET', path: /^\/backend-api\/gizmos\/bootstrap$/i, decision: blank({ gizmos: [] }) },
  { method: 'GET', path: /^\/backend-api\/gizmos\/pinned$/i, decision: blank(emptyItems) },
  { method: 'GET', path: /^\/backend-api\/gizmos\/snorlax\/sidebar$/i, decision: blank(emptyItems) },
  {
    method: 'GET',
    path: /^\/public-api\/gizmos\/discovery\/recent$/i,
    decision: blank({ info: { id: 'recent', title: 'Recently Used' }, list: emptyItems }),
  },
  { method: 'GET', path: /^\/backend-api\/conversations$/i, decision: { kind: 'own_list' } },
  // Reads over the whole account (found in review): its conversations by search, its image library.
  { method: 'GET', path: /^\/backend-api\/conversations\/search$/i, decision: blank(emptyItems) },
  { method: 'GET', path: /^\/backend-api\/my\/recent\/image_gen$/i, decision: blank(emptyItems) },
  // The account's uploaded files, listed (an upload, `POST files`, and one file's routes still pass).
  { method: 'GET', path: /^\/backend-api\/files$/i, decision: blank(emptyItems) },
  // A read of `files/<name>` (no file id: a lower-case word, digits in none) would be another listing of them.
  { method: 'GET', path: /^\/backend-api\/files\/[a-z_]+$/i, decision: blank(emptyItems) },
  // Conversations fetched by the list of their ids: each must be the seed's own, like one named in a path.
  {
    method: ['POST'],
    path: /^\/backend-api\/conversations\/batch$/i,
    decision: { kind: 'pass', bodyConversationList: true },
  },
  // An upload: the file it creates is the seed's.
  { method: ['POST'], path: /^\/backend-api\/files$/i, decision: { kind: 'pass', recordsFiles: true } },
  // A file's content by its id in the query (the 2025 image URLs): only one of the seed's files.
  { method: 'ANY', path: /^\/backend-api\/estuary\//i, decision: { kind: 'pass', queryFiles: ['id'] } },
  { method: 'ANY', path: /^\/backend-api\/conversations\/batch(?:\/|$)/i, decision: REFUSE },
  { method: 'GET', path: /^\/backend-api\/accounts\/check\/[^/]+$/i, decision: { kind: 'pass', adjust: 'accounts_check' } },
  // A public GPT's page may be read (and used in a conversation); the account's own GPTs and projects may not.
  { method: 'GET', path: /^\/backend-api\/gizmos\/g-[A-Za-z0-9]+$/i, decision: { kind: 'pass' } },
  { method: ['POST'], path: /^\/backend-api\/share\/create$/i, decision: { kind: 'pass', bodyConversation: true } },
  { method: ['PATCH'], path: /^\/backend-api\/conversations$/i, decision: REFUSE },
  // The 2026 app opens a conversation with `GET conversations/<id>?num_turns=…` (gateway-live-ui.md §2): a read passes
  // on to the ownership check below, like `conversation/<id>`; a write there is nothing the app does, and is refused.
  { method: WRITES, path: new RegExp(`^/backend-api/conversations/${UUID}`, 'i'), decision: REFUSE },
  ...[
    'accounts/logout_all',
    'accounts/deactivate',
    'accounts/data_export',
    'accounts/mfa_info',
    `accounts/${UUID}/invites`,
    'accounts/[^/]+/users',
    'payments',
    'subscriptions',
    'user_system_messages',
    'memories',
    'settings/account_user_setting',
    'settings/clear_account_user_memory',
    'shared_conversations',
    'share(?:/|$)',
    'connectors',
    'gizmos',
    'gizmo_creator_profile',
    'conversations/search',
    'tasks',
    'automations',
    'projects',
    'my(?:/|$)',
    // The legacy WebSocket mode (upstream-protocol.md §8): its `wss_url` carries the account's own Web PubSub token.
    'register-websocket',
  ].map((prefix) => ({ method: 'ANY' as const, path: new RegExp(`^/backend-api/${prefix}`, 'i'), decision: REFUSE })),
  { method: 'ANY', path: /^\/public-api\/gizmos\/discovery\/mine/i, decision: REFUSE },
];

/**
 * The web app's pages (WEB_APP_ROUTES) that show the account's own things, and that the upstream renders with them
 * when it renders the page as the account: its library and images, its tasks, its projects (`/g/g-p-…`), its GPTs
 * and their editor. A seed is sent to a new chat instead, as the API routes behind them are refused or blank to it.
 * The name may end the path or be followed by `/` or `.` (a route's data, `/gpts/mine.data`).
 */
const ACCOUNT_PAGE = /^\/(?:(?:library|images|tasks|project|ccc|gpts\/mine|gpts\/editor)(?![^/.])|g\/g-p-)/i;

/** Whether a seed may have this page (a normalised path, see `normalisedPath`) rendered as its account. */
export function seedMayOpenPage(path: string): boolean {
  return !ACCOUNT_PAGE.test(path);
}

/** Writes that change the account rather than a conversation: refused when the table has no entry for them. */
const ACCOUNT_LEVEL_WRITE =
  /^\/(?:backend-api|public-api)\/(?:settings|accounts|account|user_system_messages|memories|memory|payments|payment|subscriptions|billing|checkout|keys|api_keys|user_api_keys|connectors|automations|tasks|gizmos|gizmo_creator_profile|shared_conversations|share|organizations|orgs|me|user|users|profile|notifications|mfa|invites|workspaces|projects|data_export|compliance|beta_features)(?:\/|$)/i;
/**
 * Routes about one conversation: `conversation/<id>/…`, the 2026 `conversation/id/<id>/rename`, `stop_conversation`,
 * `conversation/message_feedback`… Their ids may sit in any segment and their writes name one in the body, so every
 * id is checked wherever it is (a new route of this family is checked, not passed on trust).
 */
const CONVERSATION_ROUTE = /^\/backend-api\/(?:f\/)?[^/]*conversations?(?:\/|$)/i;
/** The plural family below the list: `conversations/<anything>`. */
const ACCOUNT_CONVERSATIONS = /^\/backend-api\/(?:f\/)?conversations\/./i;
/** Posts whose stream names the conversation they create. */
const CONVERSATION_POST = /^\/backend-api\/(?:f\/)?conversation(?:\/prepare|\/resume)?$/i;
const CANONICAL_UUID = new RegExp(`^${UUID}$`, 'i');
const UUID_ANYWHERE = new RegExp(UUID, 'i');
const READS = new Set(['GET', 'HEAD']);

function methodMatches(wanted: MethodMatch, method: string): boolean {
  if (wanted === 'ANY') return true;
  if (wanted === 'GET') return READS.has(method);
  return wanted.includes(method);
}

/** The decision for this method on this normalised path (see `normalisedPath`). */
export function seedDecision(method: string, path: string): SeedDecision {
  const decision = tableDecision(method, path);
  if (decision.kind !== 'pass') return decision;
  const fileIds = filesNamedIn(path);
  return fileIds.length > 0 ? { ...decision, fileIds } : decision;
}

function tableDecision(method: string, path: string): SeedDecision {
  for (const entry of SEED_TABLE) if (methodMatches(entry.method, method) && entry.path.test(path)) return entry.decision;
  if (CONVERSATION_ROUTE.test(path)) return conversationRouteDecision(method, path);
  if (!READS.has(method) && ACCOUNT_LEVEL_WRITE.test(path)) return REFUSE;
  return { kind: 'pass' };
}

/** `files/<id>…`, `files/download/<id>`, `conversation/<id>/attachment/<id>…`: the segment that names a file. */
const FILE_ROUTES = [
  /^\/backend-api\/files\/download\/([^/]+)/i,
  /^\/backend-api\/files\/([^/]+)/i,
  /^\/backend-api\/(?:f\/)?[^/]*conversations?\/[^/]+\/attachments?\/([^/]+)/i,
];
/** An action under `files/` rather than a file (`files/process_upload_stream`): a lower-case word, which no file id is. */
const FILE_ACTION = /^[a-z_]+$/;

/**
 * The files a path names, each of which must be the seed's: the id segment of the file routes whatever its shape
 * (the upstream may read other spellings as ids), and any segment anywhere shaped like a file id (a route not known
 * yet that names one).
 */
function filesNamedIn(path: string): string[] {
  const named = new Set<string>();
  for (const route of FILE_ROUTES) {
    const segment = route.exec(path)?.[1];
    if (segment !== undefined && (!FILE_ACTION.test(segment) || route !== FILE_ROUTES[1])) {
      named.add(segment);
      break;
    }
  }
  for (const segment of path.split('/')) {
    const id = fileIdOf(segment);
    if (id) named.add(id);
  }
  return [...named];
}

/**
 * A conversation route: every id in its path is checked, and the body of a write. An id spelt in a way the check
 * cannot compare (`<id>x`, `<id>.json`, no dashes, braces: a UUID parser upstream may still read it) is refused.
 */
function conversationRouteDecision(method: string, path: string): SeedDecision {
  const conversationIds: string[] = [];
  for (const segment of path.split('/')) {
    if (CANONICAL_UUID.test(segment)) conversationIds.push(segment);
    else if (spellsUuid(segment)) return REFUSE;
  }
  // `conversations/<word>` (not one conversation, and not the list, batch or search above) is about the account's whole
  // list: pinned, recent, counts, bulk changes. Refused, as the list itself would be were it not filtered here.
  if (conversationIds.length === 0 && ACCOUNT_CONVERSATIONS.test(path)) return REFUSE;
  return {
    kind: 'pass',
    ...(conversationIds.length > 0 ? { conversationIds } : {}),
    ...(READS.has(method) ? {} : { bodyConversation: true }),
    ...(method === 'POST' && CONVERSATION_POST.test(path) ? { recordsConversation: true } : {}),
  };
}

/** Whether a path segment holds a UUID otherwise spelt: glued to something, or with braces, `urn:uuid:` or other dashes. */
function spellsUuid(segment: string): boolean {
  if (UUID_ANYWHERE.test(segment)) return true;
  const bare = segment.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1');
  return /^[0-9a-f-]+$/i.test(bare) && bare.replace(/-/g, '').length === 32;
}

/**
 * The path as the upstream will read it: percent-decoded once, empty and `.` segments dropped, `..` resolved.
 * Null for what has no single reading: encoded slashes or backslashes, control characters, path parameters (`;`),
 * `..` above the root, bad escapes. The result is what the rules see and what is sent upstream (re-encoded by `encodedPath`).
 */
export function normalisedPath(rawPath: string): string | null {
  if (/%(?:2f|5c)/i.test(rawPath)) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(decoded)) return null;
  // Path parameters (`conversations;x`): a server or proxy that strips them reads another path than the rules would.
  if (decoded.includes(';')) return null;
  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return null;
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

/** A normalised path, percent-encoded again segment by segment (the characters a path may hold stay as they are). */
export function encodedPath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%(?:3A|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/g, decodeURIComponent))
    .join('/');
}
