import { HandoffDetector } from '../../chat/handoff/handoff-detector';
import { conversationIdInSse, conversationIdOf, conversationStreamSniffer } from './conversation-id-sniffer';
import { fileIdsAnywhereIn, fileIdsIn, fileIdsInSse } from './file-ids';
import { encodedPath, normalisedPath, seedDecision, SEED_TABLE } from './seed-rules';

const ID = '6789abcd-0123-4567-89ab-cdef01234567';

const TABLE_CASES: Array<[string, string, string]> = [
  ['GET', '/backend-api/me', 'blank'],
  ['HEAD', '/backend-api/me', 'blank'],
  ['GET', '/backend-api/user_system_messages', 'blank'],
  ['GET', '/backend-api/memories', 'blank'],
  ['GET', '/backend-api/shared_conversations', 'blank'],
  ['GET', '/backend-api/gizmos/bootstrap', 'blank'],
  ['GET', '/backend-api/gizmos/pinned', 'blank'],
  ['GET', '/backend-api/gizmos/snorlax/sidebar', 'blank'],
  ['GET', '/public-api/gizmos/discovery/recent', 'blank'],
  ['GET', '/backend-api/conversations', 'own_list'],
  ['GET', '/backend-api/conversations/search', 'blank'],
  ['GET', '/backend-api/my/recent/image_gen', 'blank'],
  ['POST', '/backend-api/conversations/search', 'refuse'],
  ['GET', '/backend-api/files', 'blank'],
  ['GET', '/backend-api/files/recent', 'blank'],
  ['POST', '/backend-api/conversations/batch', 'pass'],
  ['GET', '/backend-api/conversations/batch', 'refuse'],
  ['GET', '/backend-api/tasks', 'refuse'],
  ['GET', '/backend-api/automations/abc', 'refuse'],
  ['GET', '/backend-api/projects', 'refuse'],
  ['GET', '/backend-api/my/files', 'refuse'],
  ['POST', '/backend-api/me', 'refuse'],
  ['POST', '/backend-api/user_system_messages', 'refuse'],
  ['DELETE', '/backend-api/memories', 'refuse'],
  ['POST', '/backend-api/memories/abc', 'refuse'],
  ['POST', '/backend-api/accounts/logout_all', 'refuse'],
  ['POST', '/backend-api/accounts/deactivate', 'refuse'],
  ['GET', '/backend-api/accounts/data_export', 'refuse'],
  ['GET', '/backend-api/accounts/mfa_info', 'refuse'],
  ['GET', `/backend-api/accounts/${ID}/invites`, 'refuse'],
  ['GET', `/backend-api/accounts/${ID}/users`, 'refuse'],
  ['GET', '/backend-api/payments/customer_portal', 'refuse'],
  ['POST', '/backend-api/subscriptions', 'refuse'],
  ['PATCH', '/backend-api/settings/account_user_setting', 'refuse'],
  ['POST', '/backend-api/settings/clear_account_user_memory', 'refuse'],
  ['POST', '/backend-api/shared_conversations', 'refuse'],
  ['GET', '/backend-api/connectors/list', 'refuse'],
  ['POST', '/backend-api/gizmos/snorlax/upsert', 'refuse'],
  ['GET', '/backend-api/gizmos/discovery/mine', 'refuse'],
  ['GET', '/backend-api/gizmo_creator_profile', 'refuse'],
  ['PATCH', `/backend-api/conversations/${ID}`, 'refuse'],
  ['DELETE', `/backend-api/conversations/${ID}/x`, 'refuse'],
  ['GET', `/backend-api/conversations/${ID}x`, 'refuse'],
  ['GET', `/backend-api/conversations/${ID}.json`, 'refuse'],
  ['POST', `/backend-api/conversation/${ID}0`, 'refuse'],
  ['PATCH', '/backend-api/conversations', 'refuse'],
  ['GET', '/public-api/gizmos/discovery/mine', 'refuse'],
  ['GET', '/backend-api/share/abc', 'refuse'],
  ['POST', '/backend-api/register-websocket', 'refuse'],
  ['GET', '/backend-api/accounts/check/v4-2023-04-27', 'pass'],
  ['GET', '/backend-api/gizmos/g-known', 'pass'],
  ['POST', '/backend-api/share/create', 'pass'],
  ['POST', '/backend-api/files', 'pass'],
  ['GET', '/backend-api/estuary/content', 'pass'],
  // The plural family below the list, the batch and the search: the account's whole list.
  ['GET', '/backend-api/conversations/pinned', 'refuse'],
  ['HEAD', '/backend-api/f/conversations/recent', 'refuse'],
  ['POST', '/backend-api/conversations/archive_all', 'refuse'],
];

function firstEntryFor(method: string, path: string): number {
  return SEED_TABLE.findIndex(
    (entry) =>
      entry.path.test(path) &&
      (entry.method === 'ANY' || (entry.method === 'GET' ? method === 'GET' || method === 'HEAD' : entry.method.includes(method))),
  );
}

describe('seed rules', () => {
  it.each(TABLE_CASES)('%s %s: %s', (method, path, kind) => {
    expect(seedDecision(method, path).kind).toBe(kind);
  });

  it('has a case above for every entry of the table', () => {
    const reached = new Set(TABLE_CASES.map(([method, path]) => firstEntryFor(method, path)));
    const missing = SEED_TABLE.map((entry, index) => (reached.has(index) ? null : `${String(entry.method)} ${entry.path}`)).filter(Boolean);
    expect(missing).toEqual([]);
  });

  it('reads a path whatever its letter case, as the deny-list and the conversation routes do', () => {
    expect(seedDecision('GET', '/backend-api/Conversations').kind).toBe('own_list');
    expect(seedDecision('GET', '/backend-api/ME').kind).toBe('blank');
    expect(seedDecision('GET', '/backend-api/Memories').kind).toBe('blank');
    expect(seedDecision('GET', '/backend-api/conversations/Search').kind).toBe('blank');
    expect(seedDecision('GET', '/backend-api/Accounts/check/v4-2023-04-27')).toEqual({ kind: 'pass', adjust: 'accounts_check' });
    expect(seedDecision('PATCH', '/backend-api/CONVERSATIONS').kind).toBe('refuse');
    expect(seedDecision('POST', '/backend-api/f/Conversation')).toEqual({
      kind: 'pass',
      bodyConversation: true,
      recordsConversation: true,
    });
  });

  it('passes unknown reads (to be scrubbed) and conversation writes, and refuses unknown account-level writes', () => {
    expect(seedDecision('GET', '/backend-api/some_new_feature')).toEqual({ kind: 'pass' });
    expect(seedDecision('GET', '/backend-api/settings/user')).toEqual({ kind: 'pass' });
    expect(seedDecision('POST', '/backend-api/files')).toEqual({ kind: 'pass', recordsFiles: true });
    for (const path of [
      '/backend-api/settings/voice',
      '/backend-api/accounts/x/beta_features',
      '/backend-api/user_api_keys',
      '/backend-api/automations/1',
      '/backend-api/payments',
    ])
      expect(seedDecision('POST', path).kind).toBe('refuse');
    expect(seedDecision('GET', '/backend-api/accounts/check/v4-2023-04-27')).toEqual({ kind: 'pass', adjust: 'accounts_check' });
    expect(seedDecision('GET', '/backend-api/gizmos/g-known')).toEqual({ kind: 'pass' });
  });

  it("never lists the account's files, nor fetches its conversations by a list of ids the seed does not own", () => {
    expect(seedDecision('GET', '/backend-api/Files')).toEqual({ kind: 'blank', body: expect.any(Function) });
    expect(seedDecision('POST', '/backend-api/files')).toEqual({ kind: 'pass', recordsFiles: true });
    expect(seedDecision('GET', '/backend-api/files/file-abc')).toEqual({ kind: 'pass', fileIds: ['file-abc'] });
    expect(seedDecision('POST', '/backend-api/conversations/Batch')).toEqual({ kind: 'pass', bodyConversationList: true });
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE'])
      expect(seedDecision(method, '/backend-api/conversations/batch').kind).toBe('refuse');
  });

  it('checks the conversation named by the path, or by a conversation post, and records what a post creates', () => {
    expect(seedDecision('GET', `/backend-api/conversation/${ID}`)).toEqual({ kind: 'pass', conversationIds: [ID] });
    expect(seedDecision('PATCH', `/backend-api/conversation/${ID.toUpperCase()}`)).toEqual({
      kind: 'pass',
      conversationIds: [ID.toUpperCase()],
      bodyConversation: true,
    });
    expect(seedDecision('GET', `/backend-api/conversation/${ID}/interpreter/download`)).toMatchObject({ conversationIds: [ID] });
    // The 2026 route (gateway-live-ui.md §2): a read of the seed's own conversation, checked like the one above.
    expect(seedDecision('GET', `/backend-api/conversations/${ID}`)).toEqual({ kind: 'pass', conversationIds: [ID] });
    expect(seedDecision('HEAD', `/backend-api/conversations/${ID.toUpperCase()}`)).toEqual({
      kind: 'pass',
      conversationIds: [ID.toUpperCase()],
    });
    for (const path of [
      '/backend-api/conversation',
      '/backend-api/f/conversation',
      '/backend-api/f/conversation/prepare',
      '/backend-api/f/conversation/resume',
    ])
      expect(seedDecision('POST', path)).toEqual({ kind: 'pass', bodyConversation: true, recordsConversation: true });
    expect(seedDecision('POST', '/backend-api/share/create')).toEqual({ kind: 'pass', bodyConversation: true });
  });

  it('checks an id wherever it sits in a conversation route, as the 2026 app renames and deletes (gateway-live-ui.md §2)', () => {
    for (const [method, path] of [
      ['DELETE', `/backend-api/conversation/id/${ID}`],
      ['POST', `/backend-api/conversation/id/${ID}/rename`],
      ['PATCH', `/backend-api/conversation/id/${ID}/rename`],
    ])
      expect(seedDecision(method, path)).toEqual({ kind: 'pass', conversationIds: [ID], bodyConversation: true });
    expect(seedDecision('GET', `/backend-api/conversation/id/${ID}`)).toEqual({ kind: 'pass', conversationIds: [ID] });
    const other = 'aaaaaaaa-0000-4000-8000-000000000009';
    expect(seedDecision('GET', `/backend-api/conversation/${ID}/message/${other}`)).toMatchObject({ conversationIds: [ID, other] });
  });

  it('reads the conversation named in the body of a write to a conversation route: stop, feedback, and ones not yet known', () => {
    for (const path of [
      '/backend-api/stop_conversation',
      '/backend-api/conversation/message_feedback',
      '/backend-api/conversation/init',
      '/backend-api/conversation/some_new_action',
    ])
      expect(seedDecision('POST', path)).toEqual({ kind: 'pass', bodyConversation: true });
  });

  it('refuses an id in a conversation route spelt so that the check cannot compare it', () => {
    const bare = ID.replace(/-/g, '');
    for (const path of [
      `/backend-api/conversation/id/${ID}x`,
      `/backend-api/conversation/id/${bare}`,
      `/backend-api/conversation/{${ID}}`,
      `/backend-api/conversation/urn:uuid:${ID}`,
      `/backend-api/conversation/${ID}/rename.${ID}`,
      `/backend-api/stop_conversation/${bare.toUpperCase()}`,
    ])
      expect(seedDecision('DELETE', path).kind).toBe('refuse');
    // Other ids that merely hold hex digits (files, messages of other shapes) are no conversation id.
    expect(seedDecision('GET', `/backend-api/conversation/${ID}/attachment/file_00000000b1c061f6a3e3d1d4f3b6a2c1/download`)).toEqual({
      kind: 'pass',
      conversationIds: [ID],
      fileIds: ['file_00000000b1c061f6a3e3d1d4f3b6a2c1'],
    });
  });

  it('names the file of every file route, whatever its shape, and any segment shaped like a file id', () => {
    const files = (method: string, path: string) => {
      const decision = seedDecision(method, path);
      return decision.kind === 'pass' ? decision.fileIds : decision.kind;
    };
    expect(files('GET', '/backend-api/files/file-AbCdEf0123456789/download')).toEqual(['file-AbCdEf0123456789']);
    expect(files('GET', '/backend-api/files/x-1')).toEqual(['x-1']);
    expect(files('HEAD', '/backend-api/files/download/x1')).toEqual(['x1']);
    expect(files('GET', `/backend-api/conversation/${ID}/attachment/odd/download`)).toEqual(['odd']);
    expect(files('GET', '/backend-api/new/place/FILE_00000000abcdef0123456789')).toEqual(['FILE_00000000abcdef0123456789']);
    // An action, not a file; a listing stays blank.
    expect(files('POST', '/backend-api/files/process_upload_stream')).toBeUndefined();
    expect(files('GET', '/backend-api/files')).toBe('blank');
    expect(seedDecision('GET', '/backend-api/estuary/content')).toEqual({ kind: 'pass', queryFiles: ['id'] });
    // An upload becomes the seed's file.
    expect(seedDecision('POST', '/backend-api/files')).toEqual({ kind: 'pass', recordsFiles: true });
    expect(seedDecision('GET', '/backend-api/some_new_feature')).toEqual({ kind: 'pass' });
  });

  it('reads the file ids an answer gives in its file fields, never in text, and any a request body gives but in typed text', () => {
    const answer = {
      message: {
        content: {
          parts: [{ content_type: 'image_asset_pointer', asset_pointer: 'file-service://file-Generated000001' }, 'file-TypedByTheUser01'],
        },
        metadata: { attachments: [{ id: 'file_00000000aaaabbbbccccdddd', name: 'a.txt' }], note: 'file-InAnotherField01' },
      },
    };
    expect(fileIdsIn(answer).sort()).toEqual(['file-Generated000001', 'file_00000000aaaabbbbccccdddd']);
    expect(fileIdsIn({ p: '/message/content/parts/0/asset_pointer', o: 'replace', v: 'sediment://file_0123456789abcdef' })).toEqual([
      'file_0123456789abcdef',
    ]);
    expect(fileIdsIn({ p: '/message/content/parts/0', o: 'append', v: 'file-TypedByTheUser01' })).toEqual([]);
    expect(fileIdsAnywhereIn(answer).sort()).toEqual(['file-Generated000001', 'file-InAnotherField01', 'file_00000000aaaabbbbccccdddd']);
    expect(fileIdsAnywhereIn({ text: 'file-TypedByTheUser01', title: 'file-InATitle0001' })).toEqual(['file-InATitle0001']);
    expect(fileIdsInSse(`data: ${JSON.stringify(answer)}\n\ndata: [DONE]\n\n`).sort()).toEqual([
      'file-Generated000001',
      'file_00000000aaaabbbbccccdddd',
    ]);
  });

  it("reads the chart a code-interpreter run drew (its result's image_url) as a file of the answer", () => {
    const ran = {
      message: {
        content: { content_type: 'execution_output', text: '<<ImageDisplayed>>' },
        metadata: {
          aggregate_result: {
            status: 'success',
            messages: [{ message_type: 'image', image_url: 'file-service://file-ChartDrawn000001', width: 800, height: 600 }],
          },
        },
      },
    };
    expect(fileIdsIn(ran)).toEqual(['file-ChartDrawn000001']);
    expect(fileIdsInSse(`data: ${JSON.stringify(ran)}\n\n`)).toEqual(['file-ChartDrawn000001']);
    // A web image's address is no file.
    expect(fileIdsIn({ image_url: 'https://example.com/file-NotAnId000001' })).toEqual([]);
  });

  it('reads the path once, as the upstream will', () => {
    expect(normalisedPath('//backend-api//memories')).toBe('/backend-api/memories');
    expect(normalisedPath('/backend-api/x/../memories')).toBe('/backend-api/memories');
    expect(normalisedPath('/backend-api/./%6demories')).toBe('/backend-api/memories');
    expect(normalisedPath('/backend-api/memories%2Fx')).toBeNull();
    expect(normalisedPath('/backend-api\\memories')).toBeNull();
    expect(normalisedPath('/../backend-api')).toBeNull();
    expect(normalisedPath('/backend-api/%zz')).toBeNull();
    expect(normalisedPath('/backend-api/conversations;x')).toBeNull();
    expect(normalisedPath('/backend-api/me%3B')).toBeNull();
    expect(seedDecision('GET', normalisedPath('//backend-api/memories') ?? '')).toMatchObject({ kind: 'blank' });
    expect(encodedPath('/backend-api/files/a b:c')).toBe('/backend-api/files/a%20b:c');
  });
});

describe('conversation id sniffer', () => {
  it('finds the id in classic, delta, hand-off and WebSocket events', () => {
    expect(conversationIdInSse(`data: {"message":{},"conversation_id":"${ID}"}\n\n`)).toBe(ID);
    expect(conversationIdInSse(`event: delta\ndata: {"p":"","o":"add","v":{"message":{},"conversation_id":"${ID}"}}\n\n`)).toBe(ID);
    expect(conversationIdInSse('data: [DONE]\n\n')).toBeUndefined();
    const frame = { type: 'message', payload: { encoded_item: `data: {"type":"x","conversation_id":"${ID}"}\n\n` } };
    expect(conversationIdOf(frame)).toBe(ID);
    expect(conversationIdOf({ conversation_id: 'x' })).toBeUndefined();
  });

  /** The stream through a sniffer in these chunks: what came out, and the order of passing and recording. */
  async function sniffed(chunks: Array<string | Buffer>, withFiles = false): Promise<{ text: string; order: string[] }> {
    const order: string[] = [];
    const recorded = (what: string) => async (id: string) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push(`${what} ${id}`);
    };
    const sniffer = conversationStreamSniffer({
      conversation: recorded('conversation'),
      handoff: recorded('turn'),
      ...(withFiles ? { files: (ids: string[]) => recorded('files')(ids.join(',')) } : {}),
    });
    const out: Buffer[] = [];
    sniffer.on('data', (chunk: Buffer) => {
      out.push(chunk);
      order.push('passed');
    });
    for (const chunk of chunks) sniffer.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    sniffer.end();
    await new Promise((resolve) => sniffer.on('end', resolve));
    return { text: Buffer.concat(out).toString(), order };
  }

  it('records the id before the event that names it goes on, and passes every byte unchanged', async () => {
    const text = `data: {"v":{"conversation_id":"${ID}"}}\n\ndata: "more"\n\ndata: [DONE]\n\n`;
    const { text: out, order } = await sniffed([text.slice(0, 20), text.slice(20)]);
    expect(out).toBe(text);
    expect(order).toEqual(['passed', `conversation ${ID}`, 'passed']);
  });

  it('records the topic of the turn the stream hands off at its head, before the stub goes on', async () => {
    const opening = `event: delta_encoding\ndata: "v1"\n\ndata: {"type":"input_message","conversation_id":"${ID}"}\n\n`;
    const stub = `data: {"type":"stream_handoff","conversation_id":"${ID}","turn_exchange_id":"turn-0001"}\n\n`;
    const { order } = await sniffed([opening, stub.slice(0, 30), stub.slice(30), 'data: [DONE]\n\n']);
    expect(order).toEqual([`conversation ${ID}`, 'passed', 'passed', 'turn conversation-turn-turn-0001', 'passed', 'passed']);
  });

  it('records the turn by its id as well when the stub names another topic for it, as a resume names the turn by its id', async () => {
    const stub = `data: {"type":"stream_handoff","conversation_id":"${ID}","turn_exchange_id":"turn-0002","options":{"topic_id":"conversation-turn-live-0002"}}\n\n`;
    const { order } = await sniffed([stub, 'data: [DONE]\n\n']);
    expect(order.slice(0, 3).sort()).toEqual([
      `conversation ${ID}`,
      'turn conversation-turn-live-0002',
      'turn conversation-turn-turn-0002',
    ]);
    expect(order.slice(3)).toEqual(['passed', 'passed']);
  });

  it('records the files of any event, late in the stream too, before that event goes on', async () => {
    const named = `data: {"v":{"conversation_id":"${ID}"}}\n\n`;
    const late = `data: {"message":{"content":{"parts":[{"asset_pointer":"file-service://file-LateImage0000001"}]}}}\n\n`;
    const { text, order } = await sniffed([named, 'data: "x"\n\n', late.slice(0, 40), late.slice(40)], true);
    expect(order).toEqual([`conversation ${ID}`, 'passed', 'passed', 'passed', 'files file-LateImage0000001', 'passed']);
    expect(text).toBe(named + 'data: "x"\n\n' + late);
  });

  it('keeps looking for the id after the head is decided, then reads nothing more and passes every byte unchanged', async () => {
    const push = jest.spyOn(HandoffDetector.prototype, 'push');
    try {
      const answer = 'data: {"message":{"author":{"role":"assistant"}}}\n\n';
      const named = `data: {"v":{"conversation_id":"${ID}"}}\n\n`;
      const late = Buffer.from(`data: {"type":"stream_handoff","turn_exchange_id":"turn-late"}\n\ndata: [DONE]\n\n`);
      const read = jest.spyOn(late, 'toString');
      const { text, order } = await sniffed([answer, named, late]);
      // The answer's first event decided the head: an ordinary stream, no stub to come.
      expect(push).toHaveBeenCalledTimes(1);
      expect(read).not.toHaveBeenCalled();
      expect(order).toEqual(['passed', `conversation ${ID}`, 'passed', 'passed']);
      expect(text).toBe(answer + named + late.toString());
    } finally {
      push.mockRestore();
    }
  });
});

describe('SEED_TABLE', () => {
  // Every entry must read a path whatever its letter case (see the table's comment): an entry added without the flag
  // would let `/backend-api/Conversations`-style spellings past it to an upstream that routes without regard to case.
  it.each(SEED_TABLE.map((entry) => [entry.path.source, entry.path.flags]))('%s ignores letter case', (_source, flags) => {
    expect(flags).toContain('i');
  });
});
