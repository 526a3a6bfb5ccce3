import { EventEmitter } from 'node:events';
import type { Response } from 'express';
import { CompletionStream } from './completion-stream';

/** Just enough of an Express response for an SSE channel: it records what is written. */
class RecordingResponse extends EventEmitter {
  written = '';
  destroyed = false;
  writableEnded = false;
  status = () => this;
  setHeader = () => this;
  write = (text: string) => {
    this.written += text;
    return true;
  };
  end = (text = '') => {
    this.written += text;
    this.writableEnded = true;
  };
}

const META = { id: 'chatcmpl-abc"\\', created: 1_700_000_000, model: 'gpt-4o "quoted" ✓' };

function chunksOf(response: RecordingResponse): unknown[] {
  return response.written
    .split('\n\n')
    .filter((event) => event.startsWith('data: {'))
    .map((event) => JSON.parse(event.slice('data: '.length)));
}

describe('CompletionStream', () => {
  it('writes each chunk as JSON.stringify would write the whole object, key order included', async () => {
    const response = new RecordingResponse();
    const out = new CompletionStream(response as unknown as Response, META, 60_000);
    await out.delta({ role: 'assistant', content: '' });
    out.setConversationIds('conv-1', 'msg-"2"');
    await out.delta({ content: 'Grüße "quoted"\n🎉' });
    await out.delta({}, 'stop');
    await out.done();

    const envelope = { id: META.id, object: 'chat.completion.chunk', created: META.created, model: META.model };
    const ids = { conversation_id: 'conv-1', message_id: 'msg-"2"' };
    const expected = [
      { ...envelope, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] },
      { ...envelope, choices: [{ index: 0, delta: { content: 'Grüße "quoted"\n🎉' }, logprobs: null, finish_reason: null }], ...ids },
      { ...envelope, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], ...ids },
    ];
    expect(response.written).toBe(`${expected.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('')}data: [DONE]\n\n`);
    expect(chunksOf(response)).toEqual(expected);
    expect(response.writableEnded).toBe(true);
  });

  it('carries tool-call deltas and every finish reason unchanged', async () => {
    const response = new RecordingResponse();
    const out = new CompletionStream(response as unknown as Response, META, 60_000);
    const call = {
      tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    };
    await out.delta(call);
    for (const reason of ['length', 'content_filter', 'tool_calls'] as const) await out.delta({}, reason);
    await out.done();
    const chunks = chunksOf(response) as { choices: { delta: unknown; finish_reason: unknown }[] }[];
    expect(chunks.map((chunk) => chunk.choices[0].finish_reason)).toEqual([null, 'length', 'content_filter', 'tool_calls']);
    expect(chunks[0].choices[0].delta).toEqual(call);
  });
});
