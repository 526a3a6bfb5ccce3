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
    // Another verb naming its topic in a field not read here, or no verb at all.
    expect(await seed.admitsFromBrowser(frame({ type: 'join', channel: 'conversations' }))).toBe(false);
    expect(await seed.admitsFromBrowser(frame({ action: 'listen', to: ['conversations'] }))).toBe(false);
    for (const type of ['connect', 'ping', 'ack']) expect(await seed.admitsFromBrowser(frame({ type }))).toBe(true);
  });

  it('refuses frames it cannot read, rather than guessing what they name', async () => {
    const seed = topics();
    for (const text of ['not json', '[]', 'null', frame({ topic: 7 }), frame({ topics: 'conversations' })])
      expect(await seed.admitsFromBrowser(text)).toBe(false);
  });

  it('passes upstream frames on a topic it subscribed to; drops the account-wide ones', async () => {
    const seed = topics();
    const turn = OWN_TURN;
    expect(await seed.admitsFromUpstream(frame({ type: 'connected' }))).toBe(true);
    expect(await seed.admitsFromUpstream(frame({ type: 'message', topic: turn, payload: {} }))).toBe(false);
    await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: turn }));
    expect(await seed.admitsFromUpstream(frame({ type: 'message', topic: turn, payload: {} }))).toBe(true);
    expect(await seed.admitsFromUpstream(frame({ type: 'message', topic: 'conversations', payload: { conversation_id: OTHER } }))).toBe(
      false,
    );
    expect(await seed.admitsFromUpstream(frame({ type: 'message', topic_id: 'conversations', payload: { conversation_id: OTHER } }))).toBe(
      false,
    );
    expect(await seed.admitsFromUpstream('binary-ish garbage')).toBe(false);
  });

  it('passes an upstream frame without a topic only when it names a conversation of its own, in whatever field', async () => {
    const seed = topics();
    const dropped = [
      { type: 'message', payload: { conversation_id: OTHER, title: 'theirs' } },
      { type: 'message', conversation_id: OTHER },
      // Fields the known frame kinds do not use, and deeper than they nest.
      { type: 'conversation_updated', data: { id: OTHER, title: 'theirs' } },
      { type: 'message', payload: { items: [{ meta: { conversation_id: OTHER } }] } },
      { type: 'message', payload: { encoded_item: `event: delta\ndata: {"v":[{"conversationId":"${OTHER}"}]}\n\n` } },
      { type: 'title_update', convo: `conversation-${OTHER}` },
      // Its own named beside another's in a field that says so.
      { type: 'message', a: { conversation_id: OWN }, b: { conversation_id: OTHER } },
      { type: 'message', conversation_id: { id: OWN } },
      // Nothing named, and not a kind about the socket: an account event of a shape not known here.
      { type: 'title_generated', title: "the owner's secret title" },
      { payload: { title: 'no kind at all' } },
    ];
    for (const fields of dropped) expect([fields, await seed.admitsFromUpstream(frame(fields))]).toEqual([fields, false]);
    const passed = [
      { type: 'message', payload: { conversation_id: OWN } },
      { type: 'conversation_updated', data: { id: OWN, message_id: OTHER.replace(/^b/, 'c') } },
      { type: 'message', payload: { encoded_item: `data: {"conversation_id":"${OWN.toUpperCase()}"}\n\n` } },
      { type: 'ack', about: 'nothing' },
      { type: 'pong' },
      { type: 'error', message: 'unknown message type' },
    ];
    for (const fields of passed) expect([fields, await seed.admitsFromUpstream(frame(fields))]).toEqual([fields, true]);
  });

  it('records the files a frame it passes names, before passing it, and none of a frame it drops', async () => {
    const recorded: string[][] = [];
    const seed = new SeedTopics({
      conversation: async (conversationId) => conversationId === OWN,
      turn: async (topic) => topic === OWN_TURN,
      recordFiles: async (fileIds) => void recorded.push(fileIds),
    });
    await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: OWN_TURN }));
    const item = (id: string) =>
      `data: {"v":{"message":{"content":{"parts":[{"content_type":"image_asset_pointer","asset_pointer":"file-service://${id}"}]}}}}\n\n`;
    expect(
      await seed.admitsFromUpstream(frame({ type: 'message', topic: OWN_TURN, payload: { encoded_item: item('file-TurnImage000001') } })),
    ).toBe(true);
    expect(
      await seed.admitsFromUpstream(
        frame({ type: 'message', topic: 'conversation-turn-other', payload: { encoded_item: item('file-OtherImage00001') } }),
      ),
    ).toBe(false);
    expect(recorded).toEqual([['file-TurnImage000001']]);
  });

  it("records the files of a turn's item in every shape the hand-off reader takes: encoded_item, SSE text, a data string", async () => {
    const recorded: string[] = [];
    const seed = new SeedTopics({
      conversation: async () => false,
      turn: async (topic) => topic === OWN_TURN,
      recordFiles: async (fileIds) => void recorded.push(...fileIds),
    });
    await seed.admitsFromBrowser(frame({ type: 'subscribe', topic: OWN_TURN }));
    const event = (id: string) => ({
      v: { message: { content: { parts: [{ content_type: 'image_asset_pointer', asset_pointer: `sediment://${id}` }] } } },
    });
    const payloads = [
      { encoded_item: `data: ${JSON.stringify(event('file_00000000aaaa000000000000000000a1'))}\n\n` },
      `event: delta\ndata: ${JSON.stringify(event('file_00000000aaaa000000000000000000a2'))}\n\n`,
      { event: 'delta', data: JSON.stringify(event('file_00000000aaaa000000000000000000a3')) },
      { data: event('file_00000000aaaa000000000000000000a4') },
    ];
    for (const [offset, payload] of payloads.entries())
      expect(await seed.admitsFromUpstream(frame({ type: 'message', topic: OWN_TURN, offset, payload }))).toBe(true);
    expect(recorded).toEqual([1, 2, 3, 4].map((n) => `file_00000000aaaa000000000000000000a${n}`));
  });

  it('reads the topics a frame names', () => {
    expect(topicsOf(frame({ type: 'connect' }))).toEqual([]);
    expect(topicsOf(frame({ topic: 'a', topics: ['b', 'c'] }))).toEqual(['a', 'b', 'c']);
    expect(topicsOf('{')).toBeNull();
  });
});
