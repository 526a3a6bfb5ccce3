import { conversationIdOf } from '../seed/conversation-id-sniffer';

/** One conversation's topic. */
const CONVERSATION_TOPIC = /^conversation-([A-Za-z0-9][A-Za-z0-9_-]{7,99})$/;

/** What a seed owns, as the topics it asks for name it. */
export interface SeedOwnership {
  /** One of its conversations. */
  conversation(conversationId: string): Promise<boolean>;
  /** A turn one of its own conversation streams handed off (`SeedTurns`). */
  turn(topic: string): Promise<boolean>;
}

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
    // A subscription must say to what, in a field read above: one that names its topic otherwise is not guessed at.
    if (topics.length === 0 && /subscribe/i.test(text)) return false;
    for (const topic of topics) if (!(await this.allowed(topic))) return false;
    for (const topic of topics) this.granted.add(topic);
    return true;
  }

  /**
   * Whether an upstream frame may reach the browser: one on granted topics, or one without a topic (an acknowledgement)
   * unless it names a conversation whose topic was not granted: an event about the account's conversations that
   * came without its topic would otherwise reach every seed on the account.
   */
  admitsFromUpstream(text: string): boolean {
    const topics = topicsOf(text);
    if (topics === null) return false;
    if (topics.length > 0) return topics.every((topic) => this.granted.has(topic));
    const named = conversationIdOf(JSON.parse(text));
    return named === undefined || this.granted.has(`conversation-${named}`);
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
