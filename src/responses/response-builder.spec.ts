import type { AnswerTokens, FinishedAnswer } from '../chat/answer-run';
import { ResponseBuilder } from './response-builder';
import type { ResponseObject } from './response-shapes';

function base(): ResponseObject {
  return {
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    status: 'in_progress',
    completed_at: null,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: 'gpt-4o',
    output: [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: null,
    metadata: {},
  };
}

function answer(fields: Partial<FinishedAnswer> = {}): FinishedAnswer {
  return {
    rest: '',
    content: '',
    toolCalls: [],
    finishReason: 'stop',
    reasoning: '',
    countTokens: () => Promise.resolve(TOKENS),
    ...fields,
  };
}

const TOKENS: AnswerTokens = { usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }, reasoningTokens: 2 };

describe('ResponseBuilder', () => {
  it('numbers every event in order and ends with the completed response', () => {
    const builder = new ResponseBuilder(base());
    const events = [
      ...builder.start(),
      ...builder.reasoning('think'),
      ...builder.text('Hel'),
      ...builder.text('lo'),
      ...builder.finish(answer({ rest: '!' }), TOKENS, 9),
    ];
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const completed = events.at(-1)!.response as ResponseObject;
    expect(completed.status).toBe('completed');
    expect(completed.completed_at).toBe(9);
    expect(completed.output).toEqual([
      { type: 'reasoning', id: expect.stringMatching(/^rs_/), summary: [{ type: 'summary_text', text: 'think' }] },
      {
        type: 'message',
        id: expect.stringMatching(/^msg_/),
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Hello!', annotations: [], logprobs: [] }],
      },
    ]);
    expect(completed.usage).toEqual({
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 2 },
      total_tokens: 12,
    });
  });

  it('keeps each event a snapshot: a later delta does not change an earlier added item', () => {
    const builder = new ResponseBuilder(base());
    const added = builder.text('a');
    builder.text('b');
    expect(added[0]).toMatchObject({ type: 'response.output_item.added', item: { status: 'in_progress', content: [] } });
    expect(added[1]).toMatchObject({ part: { text: '' } });
  });

  it('puts function calls after the text, with their arguments in chunks, and drops blank rest text', () => {
    const builder = new ResponseBuilder(base());
    const args = JSON.stringify({ city: 'x'.repeat(100) });
    const events = builder.finish(
      answer({ rest: '\n', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: args }], finishReason: 'tool_calls' }),
      TOKENS,
      9,
    );
    expect(events[0]).toMatchObject({
      type: 'response.output_item.added',
      output_index: 0,
      item: { type: 'function_call', call_id: 'call_1', arguments: '', status: 'in_progress' },
    });
    const deltas = events.filter((event) => event.type === 'response.function_call_arguments.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((event) => event.delta).join('')).toBe(args);
    expect(builder.response.output).toEqual([
      {
        type: 'function_call',
        id: expect.stringMatching(/^fc_/),
        call_id: 'call_1',
        name: 'get_weather',
        arguments: args,
        status: 'completed',
      },
    ]);
  });

  it('gives an empty answer an empty message, and marks a cut answer incomplete', () => {
    const empty = new ResponseBuilder(base());
    empty.finish(answer(), TOKENS, 9);
    expect(empty.response.output).toEqual([expect.objectContaining({ type: 'message', content: [expect.objectContaining({ text: '' })] })]);

    const cut = new ResponseBuilder(base());
    cut.text('partial');
    const events = cut.finish(answer({ finishReason: 'length' }), TOKENS, 9);
    expect(events.at(-1)!.type).toBe('response.incomplete');
    expect(cut.response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      completed_at: null,
      output: [{ status: 'incomplete' }],
    });
  });

  it('fails with the text so far kept as an incomplete message', () => {
    const builder = new ResponseBuilder(base());
    builder.text('so far');
    const events = builder.fail('cut off');
    expect(events.map((event) => event.type)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.failed',
    ]);
    expect(builder.response).toMatchObject({
      status: 'failed',
      error: { code: 'server_error', message: 'cut off' },
      output: [{ status: 'incomplete', content: [{ text: 'so far' }] }],
    });
  });

  it("keeps a rate limit's code in the response's error, and reports any other failure as server_error", () => {
    const limited = new ResponseBuilder(base());
    limited.fail('slow down', 'rate_limit_exceeded');
    expect(limited.response.error).toEqual({ code: 'rate_limit_exceeded', message: 'slow down' });
    // OpenAI's response errors have a fixed set of codes: the pipeline's own (upstream_stream_cut …) are not among them.
    const cut = new ResponseBuilder(base());
    cut.fail('cut off', 'upstream_stream_cut');
    expect(cut.response.error).toEqual({ code: 'server_error', message: 'cut off' });
  });
});
