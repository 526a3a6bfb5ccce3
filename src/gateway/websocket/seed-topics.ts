import { parseHandoffFrame } from '../../chat/handoff/handoff-frames';
import { fileIdsIn, fileIdsInSse, sseData } from '../seed/file-ids';

/** One conversation's topic. */
const CONVERSATION_TOPIC = /^conversation-([A-Za-z0-9][A-Za-z0-9_-]{7,99})$/;

/** What a seed owns, as the topics it asks for name it. */
export interface SeedOwnership {
  /** One of its conversations. */
  conversation(conversationId: string): Promise<boolean>;
  /** A turn one of its own conversation streams handed off (`SeedTurns`). */
  turn(topic: string): Promise<boolean>;
  /** Records files a frame it is given names (its own turn's generated image): they become its own. */
  recordFiles?(fileIds: string[]): Promise<void>;
}

/** What a browser sends without a topic: the opening `connect`, keep-alives and acknowledgements. */
const BROWSER_NEUTRAL_KINDS = new Set(['connect', 'ping', 'pong', 'ack', 'sequenceAck', 'keepalive', 'heartbeat']);
/** A conversation id as the upstream writes them (and as `CONVERSATION_TOPIC` reads one inside a topic). */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Fields that name a conversation, wherever they sit in a frame (and in the events it carries). */
const CONVERSATION_KEY = /^conversation_?id$|^conversationId$/i;
/**
 * Frames without a topic that are about the socket, never about a conversation (gateway-live-ui.md §2): the answer to
 * `connect`, keep-alives, acknowledgements, errors about the browser's own frames. One of these that names an id is
 * read like any other frame.
 */
const NEUTRAL_KINDS = new Set(['connected', 'ping', 'pong', 'ack', 'sequenceAck', 'keepalive', 'heartbeat', 'error']);

/**
 * What a shared (seed) user's socket may carry (gateway.md §4.4): the topics of its own turns and conversations.
 * Every other topic (`conversations`, the account-wide one, above all, or another seed's turn) would show the
 * account's and other seeds' conversations, so a frame naming one is not relayed either way.
 */
export class SeedTopics {
  private readonly granted = new Set<string>();

  constructor(private readonly owns: SeedOwnership) {}

  /** Whether a frame from the browser may go upstream; the topics it subscribes to are granted from then on. */
  async admitsFromBrowser(text: string): Promise<boolean> {
    const topics = topicsOf(text);
    if (!topics) return false;
    // A frame naming no topic in a field read above must be one about the socket: a subscription (or a verb not known
    // here) that names its topic otherwise is not guessed at.
    if (topics.length === 0) return BROWSER_NEUTRAL_KINDS.has(String((JSON.parse(text) as { type?: unknown }).type));
    for (const topic of topics) if (!(await this.allowed(topic))) return false;
    for (const topic of topics) this.granted.add(topic);
    return true;
  }

  /**
   * Whether an upstream frame may reach the browser. One on topics is passed when every topic is granted. One without
   * a topic must name a conversation of the seed's, wherever it names it: every field called `conversation_id` (in the
   * frame and in the events it carries) must be one of its own, or, when no field says so, one of the ids anywhere in
   * it must be. A frame naming no id at all passes only when it is of a kind about the socket (`NEUTRAL_KINDS`): an event
   * about the account's conversations that came in a shape not known here would otherwise reach every seed on the
   * account. The files a passed frame names become the seed's (`recordFiles`), before it goes on.
   */
  async admitsFromUpstream(text: string): Promise<boolean> {
    const topics = topicsOf(text);
    if (topics === null) return false;
    const frame = JSON.parse(text) as Record<string, unknown>;
    if (topics.length > 0) {
      if (!topics.every((topic) => this.granted.has(topic))) return false;
    } else if (!(await this.namesOwnConversation(frame, text))) return false;
    await this.recordFiles(frame, text);
    return true;
  }

  private async namesOwnConversation(frame: Record<string, unknown>, text: string): Promise<boolean> {
    const named = new Set<string>();
    collectConversationFields(frame, named, 0);
    if (named.size > 0) {
      for (const id of named) if (!(await this.ownsConversation(id))) return false;
      return true;
    }
    const ids = new Set((text.match(UUID) ?? []).map((id) => id.toLowerCase()));
    if (ids.size === 0) return typeof frame.type === 'string' && NEUTRAL_KINDS.has(frame.type);
    for (const id of ids) if (await this.ownsConversation(id)) return true;
    return false;
  }

  private async ownsConversation(conversationId: string): Promise<boolean> {
    return this.granted.has(`conversation-${conversationId}`) || (await this.owns.conversation(conversationId));
  }

  /**
   * The files a frame names in its file fields, and in the SSE events it carries: every `encoded_item`, and a turn's
   * item in whichever shape the hand-off reader takes it (`parseHandoffFrame`: the payload as SSE text, or its `data`
   * as a JSON string), as the browser will read the same events.
   */
  private async recordFiles(frame: Record<string, unknown>, text: string): Promise<void> {
    if (!this.owns.recordFiles) return;
    const fileIds = new Set(fileIdsIn(frame));
    const item = parseHandoffFrame(text);
    const carried = [...encodedItemsOf(frame), ...(item.kind === 'item' ? [item.sse] : [])];
    for (const events of carried) for (const id of fileIdsInSse(events)) fileIds.add(id);
    if (fileIds.size > 0) await this.owns.recordFiles([...fileIds]);
  }

  private async allowed(topic: string): Promise<boolean> {
    if (this.granted.has(topic)) return true;
    if (topic.startsWith('conversation-turn-')) return this.owns.turn(topic);
    const conversationId = CONVERSATION_TOPIC.exec(topic)?.[1];
    return conversationId !== undefined && (await this.owns.conversation(conversationId));
  }
}

/** The topics a JSON frame names (`topic`, `topic_id`, `topics`); null for a frame that is not a JSON object or names them oddly. */
export function topicsOf(text: string): string[] | null {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return null;
  // Every field a topic is named by (`topic_id` as well, as stubs and frames spell it too: handoff-frames.ts).
  const { topic, topic_id: topicId, topics } = frame as { topic?: unknown; topic_id?: unknown; topics?: unknown };
  const named: unknown[] = [];
  if (topic !== undefined) named.push(topic);
  if (topicId !== undefined) named.push(topicId);
  if (topics !== undefined) {
    if (!Array.isArray(topics)) return null;
    named.push(...(topics as unknown[]));
  }
  return named.every((name): name is string => typeof name === 'string') ? named : null;
}

/** Every value of a conversation field in a frame, and in the SSE events its strings carry (`encoded_item`). */
function collectConversationFields(value: unknown, named: Set<string>, depth: number): void {
  if (depth > 32 || typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item === 'string') {
      if (CONVERSATION_KEY.test(key)) named.add(item.toLowerCase());
      else if (item.includes('data:')) for (const event of sseData(item)) collectConversationFields(event, named, depth + 1);
    } else if (CONVERSATION_KEY.test(key) && item !== null && item !== undefined) {
      // Named otherwise than as a string: nothing the seed owns.
      named.add(JSON.stringify(item));
    } else collectConversationFields(item, named, depth + 1);
  }
}

/** The `encoded_item` strings of a frame, wherever they sit. */
function encodedItemsOf(value: unknown, depth = 0): string[] {
  if (depth > 32 || typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) =>
    key === 'encoded_item' && typeof item === 'string' ? [item] : encodedItemsOf(item, depth + 1),
  );
}
