import { growthRatio, LINEAR_GROWTH_LIMIT } from '../../common/testing/growth';
import { SseEvent, SseParser } from './sse-parser';
import { MODERATION_TEXT, TranslatedPiece, UpstreamStreamTranslator } from './upstream-stream-translator';

type Json = Record<string, unknown>;

/** A step of a scripted answer: a message state (sent as a snapshot or as deltas) or an event sent as it is. */
type Step = { message: Json } | { raw: unknown } | { done: true };

const CONVERSATION = 'c1';

// ---- building upstream streams ----

function sseBody(events: SseEvent[]): string {
  return events.map((event) => `${event.event ? `event: ${event.event}\n` : ''}data: ${event.data}\n\n`).join('');
}

function classicStream(steps: Step[]): string {
  return sseBody(
    steps.map((step) => {
      if ('done' in step) return { data: '[DONE]' };
      if ('raw' in step) return { data: JSON.stringify(step.raw) };
      return { data: JSON.stringify({ message: step.message, conversation_id: CONVERSATION, error: null }) };
    }),
  );
}

interface TestDelta {
  p: string;
  o: string;
  v?: unknown;
}

/** What changed from `before` to `after`, as the upstream would encode it: appends where things grew. */
function diff(before: unknown, after: unknown, path: string, out: TestDelta[]): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  if (typeof before === 'string' && typeof after === 'string' && after.startsWith(before)) {
    out.push({ p: path, o: 'append', v: after.slice(before.length) });
  } else if (Array.isArray(before) && Array.isArray(after) && after.length >= before.length) {
    before.forEach((item, i) => diff(item, after[i], `${path}/${i}`, out));
    if (after.length > before.length) out.push({ p: path, o: 'append', v: after.slice(before.length) });
  } else if (isPlain(before) && isPlain(after)) {
    for (const key of Object.keys(after)) {
      const keyPath = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (key in before) diff(before[key], after[key], keyPath, out);
      else out.push({ p: keyPath, o: 'add', v: after[key] });
    }
    for (const key of Object.keys(before)) if (!(key in after)) out.push({ p: `${path}/${key}`, o: 'remove' });
  } else {
    out.push({ p: path, o: 'replace', v: after });
  }
}

function isPlain(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The same steps in the v1 delta encoding: a root `add` per message, then appends, bare `{v}` when repeating. */
function deltaStream(steps: Step[]): string {
  const events: SseEvent[] = [{ event: 'delta_encoding', data: '"v1"' }];
  let counter = -1;
  let document: Json | undefined;
  let previous: { p: string; o: string } | undefined;
  for (const step of steps) {
    if ('done' in step) {
      events.push({ data: '[DONE]' });
      continue;
    }
    if ('raw' in step) {
      events.push({ data: JSON.stringify(step.raw) });
      continue;
    }
    const next: Json = { message: structuredClone(step.message), conversation_id: CONVERSATION, error: null };
    if (!document || (document.message as Json).id !== step.message.id) {
      counter += 1;
      events.push({ event: 'delta', data: JSON.stringify({ p: '', o: 'add', v: next, c: counter }) });
      previous = { p: '', o: 'add' };
    } else {
      const deltas: TestDelta[] = [];
      diff(document, next, '', deltas);
      if (deltas.length === 1) {
        const [delta] = deltas;
        const repeats = previous?.p === delta.p && previous.o === delta.o;
        events.push({ event: 'delta', data: JSON.stringify(repeats ? { v: delta.v } : delta) });
      } else if (deltas.length > 1) {
        events.push({ event: 'delta', data: JSON.stringify({ p: '', o: 'patch', v: deltas }) });
      }
      if (deltas.length > 0) previous = deltas[deltas.length - 1];
    }
    document = structuredClone(next);
  }
  return sseBody(events);
}

// ---- messages ----

function assistant(id: string, text: string, extra: Json = {}): Json {
  return {
    id,
    author: { role: 'assistant' },
    content: { content_type: 'text', parts: [text] },
    status: 'in_progress',
    end_turn: null,
    recipient: 'all',
    metadata: { model_slug: 'gpt-4o' },
    ...extra,
  };
}

const finalAnswer = { status: 'finished_successfully', end_turn: true };

function withMetadata(message: Json, metadata: Json): Json {
  return { ...message, metadata: { ...(message.metadata as Json), ...metadata } };
}

/** Every growing prefix of `text`, a few characters at a time, as states of one message. */
function growing(make: (text: string) => Json, text: string, step = 4): Step[] {
  const steps: Step[] = [];
  for (let end = Math.min(step, text.length); end < text.length; end += step) steps.push({ message: make(text.slice(0, end)) });
  steps.push({ message: make(text) });
  return steps;
}

// ---- running the translator ----

function translate(body: string | Buffer, cuts: number[] = []): { pieces: TranslatedPiece[]; translator: UpstreamStreamTranslator } {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const parser = new SseParser();
  const translator = new UpstreamStreamTranslator();
  const pieces: TranslatedPiece[] = [];
  const bounds = [0, ...cuts, bytes.length];
  for (let i = 0; i + 1 < bounds.length; i += 1) {
    for (const event of parser.push(bytes.subarray(bounds[i], bounds[i + 1]))) pieces.push(...translator.feed(event));
  }
  for (const event of parser.end()) pieces.push(...translator.feed(event));
  pieces.push(...translator.end());
  return { pieces: merged(pieces), translator };
}

/** Joins neighbouring text pieces of the same type, so that outputs can be compared however they were cut. */
function merged(pieces: TranslatedPiece[]): TranslatedPiece[] {
  const out: TranslatedPiece[] = [];
  for (const piece of pieces) {
    const last = out[out.length - 1];
    if ((piece.type === 'content' || piece.type === 'reasoning') && last?.type === piece.type) last.text += piece.text;
    else out.push({ ...piece });
  }
  return out;
}

function contentOf(pieces: TranslatedPiece[]): string {
  return pieces.map((piece) => (piece.type === 'content' ? piece.text : '')).join('');
}

function reasoningOf(pieces: TranslatedPiece[]): string {
  return pieces.map((piece) => (piece.type === 'reasoning' ? piece.text : '')).join('');
}

/** Translates the steps in both formats, checks that they agree, and returns the pieces. */
function translateBoth(steps: Step[]): TranslatedPiece[] {
  const classic = translate(classicStream(steps)).pieces;
  const delta = translate(deltaStream(steps)).pieces;
  expect(delta).toEqual(classic);
  return classic;
}

// ---- scripted answers ----

const user = {
  id: 'u1',
  author: { role: 'user' },
  content: { content_type: 'text', parts: ['hi'] },
  status: 'finished_successfully',
  metadata: {},
};

const scenarios: Record<string, Step[]> = {
  text: [
    { message: user },
    ...growing((text) => assistant('m2', text), 'Hello there, this is a plain answer with ünïcödé 世界 🎉.'),
    {
      message: assistant('m2', 'Hello there, this is a plain answer with ünïcödé 世界 🎉.', {
        ...finalAnswer,
        metadata: { finish_details: { type: 'stop' } },
      }),
    },
    { raw: { type: 'title_generation', title: 'Greeting', conversation_id: CONVERSATION } },
    { raw: { type: 'message_stream_complete', conversation_id: CONVERSATION } },
    { done: true },
  ],
  code: [
    { message: assistant('m2', 'Let me compute.', { status: 'finished_successfully', end_turn: false }) },
    ...growing(
      (code) => ({ ...assistant('m3', ''), recipient: 'python', content: { content_type: 'code', language: 'python', text: code } }),
      'print(1 + 1)',
    ),
    {
      message: {
        ...assistant('m3', ''),
        recipient: 'python',
        status: 'finished_successfully',
        end_turn: false,
        content: { content_type: 'code', language: 'python', text: 'print(1 + 1)' },
        metadata: { finish_details: { type: 'stop', stop_tokens: [200007] } },
      },
    },
    {
      message: {
        id: 'm4',
        author: { role: 'tool', name: 'python' },
        content: { content_type: 'execution_output', text: '2' },
        status: 'finished_successfully',
        recipient: 'all',
        metadata: { aggregate_result: { status: 'success' } },
      },
    },
    ...growing((text) => assistant('m5', text), 'The answer is 2. [Download](sandbox:/mnt/data/out.csv)'),
    { message: assistant('m5', 'The answer is 2. [Download](sandbox:/mnt/data/out.csv)', finalAnswer) },
    { done: true },
  ],
  browse: [
    {
      message: {
        ...assistant('m2', ''),
        recipient: 'web',
        content: { content_type: 'code', language: 'unknown', text: 'search("capital of France")' },
      },
    },
    {
      message: {
        id: 'm3',
        author: { role: 'tool', name: 'web' },
        content: { content_type: 'text', parts: [''] },
        status: 'in_progress',
        metadata: { initial_text: 'Searching the web' },
      },
    },
    ...growing(
      (text) => ({
        id: 'm3',
        author: { role: 'tool', name: 'web' },
        content: { content_type: 'text', parts: [text] },
        status: 'in_progress',
        metadata: { initial_text: 'Searching the web' },
      }),
      'Reading wikipedia.org\n\n\nReading britannica.com\n\nDone',
      3,
    ),
    {
      message: {
        id: 'm3',
        author: { role: 'tool', name: 'web' },
        content: { content_type: 'text', parts: ['Reading wikipedia.org\n\n\nReading britannica.com\n\nDone'] },
        status: 'finished_successfully',
        metadata: { initial_text: 'Searching the web', finished_text: 'Searched 3 sites' },
      },
    },
    { message: assistant('m4', 'Paris is the capital') },
    {
      message: withMetadata(assistant('m4', 'Paris is the capital'), {
        citations: [{ start_ix: 0, end_ix: 5, metadata: { title: 'Paris - "Wiki"', url: 'https://w.example/paris' } }],
      }),
    },
    {
      message: withMetadata(assistant('m4', 'Paris is the capital of France.', finalAnswer), {
        citations: [
          { start_ix: 0, end_ix: 5, metadata: { title: 'Paris - "Wiki"', url: 'https://w.example/paris' } },
          { start_ix: 6, end_ix: 9, metadata: { title: 'France', url: 'https://b.example/france' } },
        ],
      }),
    },
    { done: true },
  ],
  reasoning: [
    { message: { ...assistant('m2', ''), content: { content_type: 'thoughts', thoughts: [] } } },
    { message: { ...assistant('m2', ''), content: { content_type: 'thoughts', thoughts: [{ summary: 'Planning', content: 'First I' }] } } },
    {
      message: {
        ...assistant('m2', ''),
        content: { content_type: 'thoughts', thoughts: [{ summary: 'Planning', content: 'First I will plan.' }] },
      },
    },
    {
      message: {
        ...assistant('m2', ''),
        status: 'finished_successfully',
        end_turn: false,
        content: {
          content_type: 'thoughts',
          thoughts: [
            { summary: 'Planning', content: 'First I will plan.' },
            { summary: 'Checking', content: 'Looks fine.' },
          ],
        },
      },
    },
    {
      message: {
        ...assistant('m3', ''),
        status: 'finished_successfully',
        end_turn: false,
        content: { content_type: 'reasoning_recap', content: 'Thought for 8 seconds' },
      },
    },
    ...growing((text) => assistant('m4', text), 'The answer.'),
    { message: assistant('m4', 'The answer.', finalAnswer) },
    { done: true },
  ],
  image: [
    {
      message: { ...assistant('m2', '{"prompt": "a cat"}'), recipient: 'dalle.text2im', status: 'finished_successfully', end_turn: false },
    },
    {
      message: {
        id: 'm3',
        author: { role: 'tool', name: 'dalle.text2im' },
        content: {
          content_type: 'multimodal_text',
          parts: [{ content_type: 'image_asset_pointer', asset_pointer: 'file-service://file-abc', width: 1024, height: 1024 }],
        },
        status: 'in_progress',
        metadata: {},
      },
    },
    {
      message: {
        id: 'm3',
        author: { role: 'tool', name: 'dalle.text2im' },
        content: {
          content_type: 'multimodal_text',
          parts: [
            { content_type: 'image_asset_pointer', asset_pointer: 'file-service://file-abc', width: 1024, height: 1024 },
            { content_type: 'image_asset_pointer', asset_pointer: 'sediment://file_def', width: 1024, height: 1024 },
          ],
        },
        status: 'finished_successfully',
        metadata: {},
      },
    },
    {
      message: {
        id: 'm4',
        author: { role: 'tool', name: 'dalle.text2im' },
        content: { content_type: 'text', parts: ['DALL·E displayed 2 images. Do not describe them.'] },
        status: 'finished_successfully',
        metadata: {},
      },
    },
    { message: assistant('m5', 'Here is your cat.', finalAnswer) },
    { done: true },
  ],
  moderation: [
    ...growing((text) => assistant('m2', text), 'Some text'),
    { raw: { type: 'moderation', moderation_response: { flagged: true, blocked: true }, conversation_id: CONVERSATION, message_id: 'm2' } },
    { message: assistant('m2', 'Some text that goes on', finalAnswer) },
    { done: true },
  ],
  error: [
    ...growing((text) => assistant('m2', text), 'Partial'),
    { raw: { message: null, conversation_id: CONVERSATION, error: 'Something went wrong' } },
    { message: assistant('m2', 'Partial and more', finalAnswer) },
    { done: true },
  ],
  maxTokens: [
    ...growing((text) => assistant('m2', text), 'A long answer that gets cut'),
    {
      message: assistant('m2', 'A long answer that gets cut', {
        status: 'finished_partial_completion',
        end_turn: false,
        metadata: { finish_details: { type: 'max_tokens' } },
      }),
    },
    { done: true },
  ],
};

describe('UpstreamStreamTranslator', () => {
  it('translates the classic example of upstream-protocol.md §7', () => {
    const body = [
      'data: {"message": {"id": "m1", "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}, "status": "finished_successfully", "metadata": {}}, "conversation_id": "c1", "error": null}',
      'data: {"message": {"id": "m2", "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Hel"]}, "status": "in_progress", "end_turn": null, "recipient": "all", "metadata": {"model_slug": "gpt-4o"}}, "conversation_id": "c1", "error": null}',
      'data: {"message": {"id": "m2", "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Hello there"]}, "status": "in_progress", "end_turn": null, "recipient": "all", "metadata": {"model_slug": "gpt-4o"}}, "conversation_id": "c1", "error": null}',
      'data: {"message": {"id": "m2", "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Hello there!"]}, "status": "finished_successfully", "end_turn": true, "recipient": "all", "metadata": {"model_slug": "gpt-4o", "finish_details": {"type": "stop"}}}, "conversation_id": "c1", "error": null}',
      'data: [DONE]',
    ].join('\n\n');
    const translator = new UpstreamStreamTranslator();
    const parser = new SseParser();
    const perEvent = [...parser.push(body), ...parser.end()].map((event) => translator.feed(event));
    expect(perEvent).toEqual([
      [],
      [
        { type: 'conversation', conversationId: 'c1', messageId: 'm2' },
        { type: 'content', text: 'Hel' },
      ],
      [{ type: 'content', text: 'lo there' }],
      [
        { type: 'content', text: '!' },
        { type: 'finish', reason: 'stop' },
      ],
      [],
    ]);
    expect(translator.answerStarted).toBe(true);
    expect(translator.finished).toBe(true);
    expect(translator.conversationId).toBe('c1');
    expect(translator.end()).toEqual([]);
  });

  it('translates the delta example of upstream-delta-encoding.md', () => {
    const fullMessage =
      '{"id": "m2", "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": [""]}, "status": "in_progress", "end_turn": null, "recipient": "all", "metadata": {}}';
    const body = `event: delta_encoding
data: "v1"

event: delta
data: {"p": "", "o": "add", "v": {"message": ${fullMessage}, "conversation_id": "c1", "error": null}, "c": 0}

event: delta
data: {"p": "/message/content/parts/0", "o": "append", "v": "Hel"}

event: delta
data: {"v": "lo"}

event: delta
data: {"p": "", "o": "patch", "v": [
data:   {"p": "/message/content/parts/0", "o": "append", "v": "!"},
data:   {"p": "/message/status", "o": "replace", "v": "finished_successfully"},
data:   {"p": "/message/end_turn", "o": "replace", "v": true},
data:   {"p": "/message/metadata", "o": "append", "v": {"is_complete": true, "finish_details": {"type": "stop"}}}
data: ]}

data: {"type": "message_stream_complete", "conversation_id": "c1"}

data: [DONE]

`;
    const translator = new UpstreamStreamTranslator();
    const parser = new SseParser();
    const perEvent = [...parser.push(body), ...parser.end()].map((event) => translator.feed(event));
    expect(perEvent).toEqual([
      [],
      [{ type: 'conversation', conversationId: 'c1', messageId: 'm2' }],
      [{ type: 'content', text: 'Hel' }],
      [{ type: 'content', text: 'lo' }],
      [
        { type: 'content', text: '!' },
        { type: 'finish', reason: 'stop' },
      ],
      [],
      [],
    ]);
    expect(translator.finished).toBe(true);
  });

  it('translates a plain answer the same way in both formats', () => {
    const pieces = translateBoth(scenarios.text);
    expect(pieces).toEqual([
      { type: 'conversation', conversationId: CONVERSATION, messageId: 'm2' },
      { type: 'content', text: 'Hello there, this is a plain answer with ünïcödé 世界 🎉.' },
      { type: 'finish', reason: 'stop' },
    ]);
  });

  it('shows nothing of a message written for the model, in either format (a tool note, a system error)', () => {
    const toolNote = (text: string) => ({
      id: 't1',
      author: { role: 'tool', name: 'dalle.text2im' },
      content: { content_type: 'text', parts: [text] },
      status: 'in_progress',
      metadata: {},
      recipient: 'all',
    });
    const systemError = (text: string) => ({
      id: 't2',
      author: { role: 'tool', name: 'python' },
      content: { content_type: 'system_error', name: 'Exception', text },
      status: 'in_progress',
      metadata: {},
      recipient: 'all',
    });
    const pieces = translateBoth([
      { message: user },
      ...growing(toolNote, 'DALL·E displayed 1 images. The images are already plainly visible, do not repeat them.'),
      ...growing(systemError, 'Traceback (most recent call last): internal details'),
      ...growing((text) => assistant('m3', text), 'Here you go'),
    ]);
    expect(contentOf(pieces)).toBe('Here you go');
  });

  it('fences code and its output, and reports sandbox files of the final answer', () => {
    const pieces = translateBoth(scenarios.code);
    expect(contentOf(pieces)).toBe(
      'Let me compute.\n```python\nprint(1 + 1)\n```\n\n```Output\n2\n```\n\nThe answer is 2. [Download](sandbox:/mnt/data/out.csv)\n\n',
    );
    expect(pieces.filter((piece) => piece.type !== 'content')).toEqual([
      { type: 'conversation', conversationId: CONVERSATION, messageId: 'm2' },
      { type: 'conversation', conversationId: CONVERSATION, messageId: 'm3' },
      { type: 'conversation', conversationId: CONVERSATION, messageId: 'm4' },
      { type: 'conversation', conversationId: CONVERSATION, messageId: 'm5' },
      { type: 'sandbox_file', path: '/mnt/data/out.csv', messageId: 'm5' },
      { type: 'finish', reason: 'stop' },
    ]);
  });

  it('shows browsing as a blockquote with its captions, and citations as links', () => {
    const pieces = translateBoth(scenarios.browse);
    expect(contentOf(pieces)).toBe(
      '\n```web\nsearch("capital of France")\n```\n\n>Searching the web\nReading wikipedia.org\nReading britannica.com\nDone\n\n' +
        '*Searched 3 sites*\n\n---\n\n' +
        `Paris is the capital **[[""]](https://w.example/paris "Paris - 'Wiki'")** ` +
        ` of France. **[[""]](https://b.example/france "France")** `,
    );
    expect(pieces[pieces.length - 1]).toEqual({ type: 'finish', reason: 'stop' });
  });

  it('sends thoughts and the recap as reasoning, not content', () => {
    const pieces = translateBoth(scenarios.reasoning);
    expect(reasoningOf(pieces)).toBe('**Planning**\n\nFirst I will plan.\n\n**Checking**\n\nLooks fine.\n\n*Thought for 8 seconds*\n');
    expect(contentOf(pieces)).toBe('The answer.');
    const firstContent = pieces.findIndex((piece) => piece.type === 'content');
    expect(pieces.slice(firstContent + 1).some((piece) => piece.type === 'reasoning')).toBe(false);
  });

  it('shows the image prompt in a fence and reports generated images', () => {
    const pieces = translateBoth(scenarios.image);
    expect(merged(pieces.filter((piece) => piece.type !== 'conversation'))).toEqual([
      { type: 'content', text: '\n```dalle.text2im\n{"prompt": "a cat"}\n```\n\n' },
      { type: 'image', fileId: 'file-abc' },
      { type: 'content', text: '\n\n' },
      { type: 'image', fileId: 'file_def' },
      { type: 'content', text: '\n\nHere is your cat.' },
      { type: 'finish', reason: 'stop' },
    ]);
  });

  it('replaces a moderated answer’s end with the moderation text and stops', () => {
    const pieces = translateBoth(scenarios.moderation);
    expect(contentOf(pieces)).toBe(`Some text\n\n${MODERATION_TEXT}`);
    expect(pieces[pieces.length - 1]).toEqual({ type: 'finish', reason: 'content_filter' });
  });

  it('uses the configured moderation text, and ignores a moderation event that blocked nothing', () => {
    const translator = new UpstreamStreamTranslator({ moderationText: 'Filtered.' });
    const moderation = (response?: Json) => ({ data: JSON.stringify({ type: 'moderation', moderation_response: response }) });
    expect(translator.feed(moderation({ flagged: false, blocked: false }))).toEqual([]);
    expect(translator.feed(moderation({ flagged: true, blocked: false }))).toEqual([]);
    expect(translator.feed(moderation({ flagged: false }))).toEqual([]);
    expect(translator.answerStarted).toBe(false);
    expect(translator.feed(moderation())).toEqual([
      { type: 'content', text: 'Filtered.' },
      { type: 'finish', reason: 'content_filter' },
    ]);
  });

  it('reports an error event and translates nothing after it', () => {
    const pieces = translateBoth(scenarios.error);
    expect(pieces.slice(1)).toEqual([
      { type: 'content', text: 'Partial' },
      { type: 'error', message: 'Something went wrong', code: 'upstream_stream_error' },
    ]);
    const { translator } = translate(classicStream(scenarios.error));
    expect(translator.finished).toBe(false);
    expect(translator.answerStarted).toBe(true);
  });

  it('reads the code and message of an error object', () => {
    const translator = new UpstreamStreamTranslator();
    expect(translator.feed({ data: JSON.stringify({ error: { message: 'Too many requests', code: 'rate_limit_exceeded' } }) })).toEqual([
      { type: 'error', message: 'Too many requests', code: 'rate_limit_exceeded' },
    ]);
    expect(translator.answerStarted).toBe(false);
  });

  it('finishes with length when the upstream ran out of tokens', () => {
    const pieces = translateBoth(scenarios.maxTokens);
    expect(contentOf(pieces)).toBe('A long answer that gets cut');
    expect(pieces[pieces.length - 1]).toEqual({ type: 'finish', reason: 'length' });
    const withoutDone = scenarios.maxTokens.filter((step) => !('done' in step));
    expect(translate(classicStream(withoutDone)).pieces.pop()).toEqual({ type: 'finish', reason: 'length' });
  });

  it('leaves an answer cut off before its end unfinished', () => {
    const steps = growing((text) => assistant('m2', text), 'An answer that never ends');
    for (const body of [classicStream(steps), deltaStream(steps)]) {
      const { pieces, translator } = translate(body);
      expect(contentOf(pieces)).toBe('An answer that never ends');
      expect(pieces.some((piece) => piece.type === 'finish')).toBe(false);
      expect(translator.finished).toBe(false);
      expect(translator.answerStarted).toBe(true);
    }
  });

  it('finishes at [DONE] even without an end_turn', () => {
    const steps: Step[] = [
      { message: assistant('m2', 'Stopped', { status: 'finished_successfully', metadata: { finish_details: { type: 'interrupted' } } }) },
      { done: true },
    ];
    expect(translateBoth(steps).pop()).toEqual({ type: 'finish', reason: 'stop' });
  });

  it('reports each sandbox file of the final answer once, names with spaces included', () => {
    const text =
      'See [a](sandbox:/mnt/data/my report.csv), [b](sandbox:/mnt/data/chart.png) and [a again](sandbox:/mnt/data/my report.csv).';
    const pieces = translateBoth([{ message: assistant('m2', text, finalAnswer) }]);
    expect(pieces.filter((piece) => piece.type === 'sandbox_file')).toEqual([
      { type: 'sandbox_file', path: '/mnt/data/my report.csv', messageId: 'm2' },
      { type: 'sandbox_file', path: '/mnt/data/chart.png', messageId: 'm2' },
    ]);
  });

  it('announces the conversation once its id is known, and again for each new message', () => {
    const translator = new UpstreamStreamTranslator();
    expect(translator.feed({ data: JSON.stringify({ message: assistant('m2', 'A') }) })).toEqual([{ type: 'content', text: 'A' }]);
    translator.feed({ data: JSON.stringify({ type: 'title_generation', title: 'T', conversation_id: 'c9' }) });
    expect(translator.feed({ data: JSON.stringify({ message: assistant('m2', 'AB') }) })).toEqual([
      { type: 'conversation', conversationId: 'c9', messageId: 'm2' },
      { type: 'content', text: 'B' },
    ]);
    expect(translator.feed({ data: JSON.stringify({ message: assistant('m3', 'C'), conversation_id: 'c9' }) })).toEqual([
      { type: 'conversation', conversationId: 'c9', messageId: 'm3' },
      { type: 'content', text: '\n\nC' },
    ]);
  });

  it('is not started by user and system echoes', () => {
    const translator = new UpstreamStreamTranslator();
    translator.feed({ data: JSON.stringify({ message: user, conversation_id: CONVERSATION, error: null }) });
    translator.feed({
      data: JSON.stringify({ message: { ...user, id: 's1', author: { role: 'system' } }, conversation_id: CONVERSATION, error: null }),
    });
    expect(translator.answerStarted).toBe(false);
    expect(translator.conversationId).toBe(CONVERSATION);
  });

  it('ignores snapshots of an older message once a newer one appeared', () => {
    const steps: Step[] = [
      { message: assistant('m2', 'First', { status: 'finished_successfully', end_turn: false }) },
      { message: assistant('m3', 'Second') },
      { message: assistant('m2', 'First, changed late') },
      { message: assistant('m3', 'Second.', finalAnswer) },
    ];
    expect(contentOf(translate(classicStream(steps)).pieces)).toBe('First\n\nSecond.');
  });

  it('ignores deltas for an older counter, malformed data and unknown typed events', () => {
    const message = (id: string) => ({ message: assistant(id, ''), conversation_id: CONVERSATION, error: null });
    const body = sseBody([
      { event: 'delta_encoding', data: '"v1"' },
      { event: 'delta', data: JSON.stringify({ p: '', o: 'add', v: message('m2'), c: 0 }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: 'One' }) },
      { event: 'delta', data: JSON.stringify({ p: '', o: 'add', v: message('m3'), c: 1 }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: 'Two', c: 1 }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: ' late', c: 0 }) },
      { event: 'delta', data: '{"v": "not json' },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'explode', v: 'x' }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0/x', o: 'append', v: 'x', c: 1 }) },
      { data: JSON.stringify({ type: 'server_ste_metadata', metadata: {} }) },
      { data: JSON.stringify({ type: 'input_message', input_message: user, conversation_id: CONVERSATION }) },
      { data: JSON.stringify({ type: 'something_new' }) },
      { event: 'delta', data: JSON.stringify({ v: '!' }) },
      { data: '[DONE]' },
    ]);
    const { pieces } = translate(body);
    expect(contentOf(pieces)).toBe('One\n\nTwo!');
    expect(pieces[pieces.length - 1]).toEqual({ type: 'finish', reason: 'stop' });
  });

  it('repeats the previous path and operation for a bare {v}, also after a patch', () => {
    const body = sseBody([
      {
        event: 'delta',
        data: JSON.stringify({ p: '', o: 'add', v: { message: assistant('m2', ''), conversation_id: CONVERSATION }, c: 0 }),
      },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: 'a' }) },
      { event: 'delta', data: JSON.stringify({ v: 'b' }) },
      {
        event: 'delta',
        data: JSON.stringify({
          p: '',
          o: 'patch',
          v: [
            { p: '/message/status', o: 'replace', v: 'in_progress' },
            { p: '/message/content/parts/0', o: 'append', v: 'c' },
          ],
        }),
      },
      { event: 'delta', data: JSON.stringify({ v: 'd' }) },
      { event: 'delta', data: JSON.stringify({ v: [{ p: '/message/content/parts/0', o: 'append', v: 'e' }] }) },
      { event: 'delta', data: JSON.stringify({ v: 'f' }) },
    ]);
    expect(contentOf(translate(body).pieces)).toBe('abcdef');
  });

  it('follows truncate, replace and remove on the text, sending only what is new', () => {
    const body = sseBody([
      {
        event: 'delta',
        data: JSON.stringify({ p: '', o: 'add', v: { message: assistant('m2', 'Hello world'), conversation_id: CONVERSATION }, c: 0 }),
      },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'truncate', v: 5 }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: ' there' }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/parts/0', o: 'replace', v: 'Hello there, friend' }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/metadata', o: 'remove' }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/metadata', o: 'add', v: { finish_details: { type: 'max_tokens' } } }) },
      {
        event: 'delta',
        data: JSON.stringify({
          p: '',
          o: 'patch',
          v: [
            { p: '/message/status', o: 'replace', v: 'finished_successfully' },
            { p: '/message/end_turn', o: 'replace', v: true },
          ],
        }),
      },
    ]);
    const { pieces } = translate(body);
    expect(contentOf(pieces)).toBe('Hello world there, friend');
    expect(pieces[pieces.length - 1]).toEqual({ type: 'finish', reason: 'length' });
  });

  it('streams thoughts appended as deltas', () => {
    const thoughts = (list: unknown[]) => ({
      message: { ...assistant('m2', ''), content: { content_type: 'thoughts', thoughts: list } },
      conversation_id: CONVERSATION,
    });
    const body = sseBody([
      { event: 'delta', data: JSON.stringify({ p: '', o: 'add', v: thoughts([]), c: 0 }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/thoughts', o: 'append', v: [{ summary: 'Idea', content: '' }] }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/thoughts/0/content', o: 'append', v: 'Step' }) },
      { event: 'delta', data: JSON.stringify({ v: ' one.' }) },
      { event: 'delta', data: JSON.stringify({ p: '/message/content/thoughts', o: 'append', v: [{ summary: 'More', content: 'Two.' }] }) },
    ]);
    const { pieces } = translate(body);
    expect(pieces.filter((piece) => piece.type === 'reasoning')).toEqual([
      { type: 'reasoning', text: '**Idea**\n\nStep one.\n\n**More**\n\nTwo.' },
    ]);
  });

  it('gives the same pieces wherever the bytes are cut', () => {
    const steps: Step[] = [
      ...growing((text) => assistant('m2', text), 'Grüße, 世界! 🎉 done', 3),
      { message: assistant('m2', 'Grüße, 世界! 🎉 done', finalAnswer) },
      { done: true },
    ];
    for (const stream of [classicStream(steps), deltaStream(steps).replace(/\n/g, '\r\n')]) {
      const body = Buffer.from(stream);
      const whole = translate(body).pieces;
      expect(contentOf(whole)).toBe('Grüße, 世界! 🎉 done');
      for (let cut = 1; cut < body.length; cut += 1) expect(translate(body, [cut]).pieces).toEqual(whole);
      const everyByte = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
      expect(translate(body, everyByte).pieces).toEqual(whole);
    }
  });

  it('translates a long answer in delta mode in linear time', () => {
    const chunk = 'abcdefghi\n';
    const translate = (count: number) => {
      const events: string[] = [
        'event: delta_encoding\ndata: "v1"\n\n',
        `event: delta\ndata: ${JSON.stringify({ p: '', o: 'add', v: { message: assistant('m2', ''), conversation_id: CONVERSATION, error: null }, c: 0 })}\n\n`,
        `event: delta\ndata: ${JSON.stringify({ p: '/message/content/parts/0', o: 'append', v: chunk })}\n\n`,
      ];
      const bare = `event: delta\ndata: ${JSON.stringify({ v: chunk })}\n\n`;
      for (let i = 1; i < count; i += 1) events.push(bare);
      events.push(
        `event: delta\ndata: ${JSON.stringify({
          p: '',
          o: 'patch',
          v: [
            { p: '/message/status', o: 'replace', v: 'finished_successfully' },
            { p: '/message/end_turn', o: 'replace', v: true },
          ],
        })}\n\n`,
      );
      events.push('data: [DONE]\n\n');
      const body = Buffer.from(events.join(''));

      const parser = new SseParser();
      const translator = new UpstreamStreamTranslator();
      let length = 0;
      let finish: TranslatedPiece | undefined;
      for (let offset = 0; offset < body.length; offset += 16_384) {
        for (const event of parser.push(body.subarray(offset, offset + 16_384))) {
          for (const piece of translator.feed(event)) {
            if (piece.type === 'content') length += piece.text.length;
            if (piece.type === 'finish') finish = piece;
          }
        }
      }
      expect(length).toBe(chunk.length * count);
      expect(finish).toEqual({ type: 'finish', reason: 'stop' });
    };
    // 16x the answer (200 KB at 16x) may take at most 48x the time: re-reading the text so far per delta would take
    // 256x.
    expect(growthRatio(translate, 1_250)).toBeLessThanOrEqual(LINEAR_GROWTH_LIMIT);
  });
});
