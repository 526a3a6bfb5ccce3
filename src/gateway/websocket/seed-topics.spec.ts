import { SeedTopics, topicsOf } from './seed-topics';

const OWN = 'aaaaaaaa-0000-4000-8000-000000000001';
const OTHER = 'bbbbbbbb-0000-4000-8000-000000000002';
const frame = (fields: Record<string, unknown>) => JSON.stringify(fields);

const OWN_TURN = 'conversation-turn-3f1c2b9a-7d00-4000-8000-000000000000';

describe('SeedTopics', () => {
  const topics = () =>
    new SeedTopics({ conversation: async (conversationId) => conversationId === OWN, turn: async (topic) => topic === OWN_TURN });

  it('lets a seed subscribe to its turns and its own conversations, and to nothing else', async () => {
    const seed = topics();
    expect(await seed.admitsFromBrowser(frame({ type: 'connect' }))).toBe(true);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: OWN_TURN }))).toBe(true);
    // Another seed's turn (or the owner's), whose topic it may have seen or guessed.
    expect(
      await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: 'conversation-turn-4a2d3c0b-8e11-4000-8000-000000000001' })),
    ).toBe(false);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: `conversation-${OWN}` }))).toBe(true);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: `conversation-${OTHER}` }))).toBe(false);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: 'conversations' }))).toBe(false);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topics: [`conversation-${OWN}`, 'conversations'] }))).toBe(false);
    // However the topic is named.
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', topic_id: 'conversations' }))).toBe(false);
    expect(await seed.admitsFromBrowser(frame({ type: 'subscribe', channel: 'conversations' }))).toBe(false);
  });

  it('refuses frames it cannot read, rather than guessing what they name', async () => {
    const seed = topics();
    for (const text of ['not json', '[]', 'null', frame({ topic: 7 }), frame({ topics: 'conversations' })])
      expect(await seed.admitsFromBrowser(text)).toBe(false);
  });

  it('passes upstream frames without a topic or on a topic it subscribed to; drops the account-wide ones', async () => {
    const seed = topics();
    const turn = OWN_TURN;
    expect(seed.admitsFromUpstream(frame({ type: 'connected' }))).toBe(true);
    expect(seed.admitsFromUpstream(frame({ type: 'message', topic: turn, payload: {} }))).toBe(false);
    await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: turn }));
    expect(seed.admitsFromUpstream(frame({ type: 'message', topic: turn, payload: {} }))).toBe(true);
    expect(seed.admitsFromUpstream(frame({ type: 'message', topic: 'conversations', payload: { conversation_id: OTHER } }))).toBe(false);
    expect(seed.admitsFromUpstream(frame({ type: 'message', topic_id: 'conversations', payload: { conversation_id: OTHER } }))).toBe(false);
    expect(seed.admitsFromUpstream('binary-ish garbage')).toBe(false);
  });

  it('drops an upstream frame without a topic that names a conversation not among its subscriptions', async () => {
    const seed = topics();
    expect(seed.admitsFromUpstream(frame({ type: 'message', payload: { conversation_id: OTHER, title: 'theirs' } }))).toBe(false);
    expect(seed.admitsFromUpstream(frame({ type: 'message', conversation_id: OTHER }))).toBe(false);
    expect(seed.admitsFromUpstream(frame({ type: 'message', payload: { conversation_id: OWN } }))).toBe(false);
    await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: `conversation-${OWN}` }));
    expect(seed.admitsFromUpstream(frame({ type: 'message', payload: { conversation_id: OWN } }))).toBe(true);
    expect(seed.admitsFromUpstream(frame({ type: 'message', payload: { conversation_id: OTHER } }))).toBe(false);
    expect(seed.admitsFromUpstream(frame({ type: 'ack', about: 'nothing' }))).toBe(true);
  });

  it('reads the topics a frame names', () => {
    expect(topicsOf(frame({ type: 'connect' }))).toEqual([]);
    expect(topicsOf(frame({ topic: 'a', topics: ['b', 'c'] }))).toEqual(['a', 'b', 'c']);
    expect(topicsOf('{')).toBeNull();
  });
});
