import { PassThrough, Readable } from 'node:stream';
import { HandoffDetector, readAnswerHead } from './handoff-detector';

const STUB = 'data: {"type":"stream_handoff","conversation_id":"c1","turn_exchange_id":"t1"}\n\n';
const ENCODING = 'event: delta_encoding\ndata: "v1"\n\n';
const INPUT = 'data: {"type":"input_message","input_message":{"id":"u1"},"conversation_id":"c1"}\n\n';
/** A root add of one message, as a v1 stream opens with the turn's system and user messages (`c` 0 and 1). */
const added = (role: string, c: number, hidden = false) =>
  `event: delta\ndata: ${JSON.stringify({
    p: '',
    o: 'add',
    v: {
      message: {
        id: `${role}-1`,
        author: { role },
        content: { content_type: 'text', parts: [role === 'user' ? 'Think hard about this.' : ''] },
        status: 'finished_successfully',
        metadata: { is_visually_hidden_from_conversation: hidden },
      },
      conversation_id: 'c1',
      error: null,
    },
    c,
  })}\n\n`;

describe('HandoffDetector', () => {
  it('finds a stub after the encoding and the echoed input', () => {
    const detector = new HandoffDetector();
    expect(detector.push(ENCODING)).toBeUndefined();
    expect(detector.push(INPUT)).toBeUndefined();
    expect(detector.push(STUB)).toEqual({ kind: 'handoff', handoff: { conversationId: 'c1', turnExchangeId: 't1', topic: undefined } });
  });

  it('finds a stub after the system and user messages a v1 stream opens with', () => {
    const detector = new HandoffDetector();
    expect(detector.push(ENCODING + added('system', 0, true))).toBeUndefined();
    expect(detector.push(added('user', 1))).toBeUndefined();
    expect(detector.push(STUB)).toMatchObject({ kind: 'handoff', handoff: { turnExchangeId: 't1' } });
  });

  it('finds a stub after the opening adds when the echoed user message is a long prompt (over 64 KiB)', () => {
    // A 70 kB prompt (a pasted file, a long chat history flattened into one message) is echoed whole in the user add.
    const prompt = 'lorem ipsum dolor sit amet '.repeat(2600);
    const userAdd = added('user', 1).replace('Think hard about this.', prompt);
    const detector = new HandoffDetector();
    expect(detector.push(ENCODING + added('system', 0, true))).toBeUndefined();
    // The proxy reads the body in socket-sized chunks.
    const bytes = Buffer.from(userAdd);
    for (let at = 0; at < bytes.length; at += 16 * 1024) expect(detector.push(bytes.subarray(at, at + 16 * 1024))).toBeUndefined();
    expect(detector.push(STUB)).toMatchObject({ kind: 'handoff', handoff: { turnExchangeId: 't1' } });
  });

  it('finds a stub cut across chunks, even inside a UTF-8 character', () => {
    const detector = new HandoffDetector();
    const bytes = Buffer.from(`${ENCODING}data: {"type":"stream_handoff","turn_exchange_id":"t1","note":"é"}\n\n`);
    const cut = bytes.indexOf(0xc3) + 1;
    expect(detector.push(bytes.subarray(0, cut))).toBeUndefined();
    expect(detector.push(bytes.subarray(cut))).toMatchObject({ kind: 'handoff', handoff: { turnExchangeId: 't1' } });
  });

  it.each([
    ['a delta', `${ENCODING}event: delta\ndata: {"p":"","o":"add","v":{"message":{}}}\n\n`],
    [
      "the assistant's message after the system and user ones",
      `${ENCODING}${added('system', 0, true)}${added('user', 1)}${added('assistant', 2)}`,
    ],
    ['a delta that does not parse', `${ENCODING}event: delta\ndata: {"v":\n\n`],
    ['a bare delta', `${ENCODING}data: {"v":"Hello"}\n\n`],
    ['a classic snapshot', 'data: {"message":{"author":{"role":"user"}},"conversation_id":"c1","error":null}\n\n'],
    ['an error event', 'data: {"error":"Something went wrong"}\n\n'],
    ['[DONE]', 'data: [DONE]\n\n'],
  ])('says "an ordinary stream" at %s', (_name, text) => {
    expect(new HandoffDetector().push(text)).toEqual({ kind: 'stream' });
  });

  it('says "an ordinary stream" when the body ends undecided, or the head grows past its limit', () => {
    const ended = new HandoffDetector();
    expect(ended.push(ENCODING)).toBeUndefined();
    expect(ended.end()).toEqual({ kind: 'stream' });
    const long = new HandoffDetector();
    const typed = `data: {"type":"server_ste_metadata","padding":"${'x'.repeat(1000)}"}\n\n`;
    let verdict;
    for (let i = 0; i < 100 && !verdict; i++) verdict = long.push(typed);
    expect(verdict).toEqual({ kind: 'stream' });
  });
});

describe('readAnswerHead', () => {
  async function readAll(body: Readable): Promise<string> {
    let text = '';
    for await (const chunk of body) text += (chunk as Buffer).toString('utf8');
    return text;
  }

  it('gives an ordinary stream back from its first byte, the rest still streaming', async () => {
    const body = new PassThrough();
    body.write(ENCODING);
    body.write('event: delta\ndata: {"v":"Hel"}\n\nevent: delta\ndata: {"v":"l');
    const head = await readAnswerHead(body);
    expect(head.kind).toBe('stream');
    body.end('o"}\n\ndata: [DONE]\n\n');
    expect(await readAll((head as { body: Readable }).body)).toBe(
      `${ENCODING}event: delta\ndata: {"v":"Hel"}\n\nevent: delta\ndata: {"v":"lo"}\n\ndata: [DONE]\n\n`,
    );
  });

  it('gives a short body that ended undecided back whole', async () => {
    const head = await readAnswerHead(Readable.from([Buffer.from(ENCODING)]));
    expect(head.kind).toBe('stream');
    expect(await readAll((head as { body: Readable }).body)).toBe(ENCODING);
  });

  it('returns the hand-off and lets the stub body drain', async () => {
    const body = new PassThrough();
    body.write(ENCODING + INPUT + STUB);
    const head = await readAnswerHead(body);
    expect(head).toEqual({ kind: 'handoff', handoff: { conversationId: 'c1', turnExchangeId: 't1', topic: undefined } });
    const ended = new Promise((resolve) => body.once('end', resolve));
    body.end('data: [DONE]\n\n');
    await ended;
  });

  it('reports a body that fails while its head is read as a stream cut', async () => {
    const body = new PassThrough();
    setImmediate(() => body.destroy(new Error('socket hang up')));
    await expect(readAnswerHead(body)).rejects.toMatchObject({ kind: 'stream_cut', step: 'conversation' });
  });
});
