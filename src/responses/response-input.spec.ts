import type { ApiError } from '../common/errors/api-error';
import { chatRequestFor, inputMessages } from './response-input';

function paramOf(run: () => unknown): string | null {
  try {
    run();
  } catch (error) {
    return (error as ApiError).body.error.param;
  }
  throw new Error('expected a 400');
}

describe('Responses input as chat messages', () => {
  it('turns a string into one user message', () => {
    expect(inputMessages('hi')).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('merges consecutive function calls into the assistant turn before them and labels results with their function', () => {
    const messages = inputMessages([
      { role: 'user', content: 'weather?' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
      { type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"A"}' },
      { type: 'function_call', call_id: 'call_b', name: 'get_time', arguments: '{}' },
      { type: 'reasoning', id: 'rs_1', summary: [] },
      { type: 'function_call_output', call_id: 'call_a', output: 'sunny' },
      {
        type: 'function_call_output',
        call_id: 'call_c',
        output: [
          { type: 'input_text', text: 'one' },
          { type: 'input_text', text: 'two' },
        ],
      },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'Checking.' }],
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"A"}' } },
          { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', name: 'get_weather', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_c', name: undefined, content: 'one\ntwo' },
    ]);
  });

  it('maps images and files to the chat parts the attachment pipeline loads', () => {
    const [message] = inputMessages([
      {
        role: 'user',
        content: [
          { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' },
          { type: 'input_file', filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERg==' },
          { type: 'input_file', file_url: 'https://example.com/b.pdf' },
        ],
      },
    ]);
    expect(message.content).toEqual([
      { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERg==', filename: 'a.pdf' } },
      { type: 'image_url', image_url: { url: 'https://example.com/b.pdf' } },
    ]);
  });

  it('names files uploaded to /v1/files by their id, for the attachments to read as the caller', () => {
    const params = new Map();
    const [message] = inputMessages(
      [
        {
          role: 'user',
          content: [
            { type: 'input_file', file_id: 'file-a', filename: 'notes.txt' },
            { type: 'input_image', file_id: 'file-b', detail: 'low' },
          ],
        },
      ],
      new Map(),
      params,
    );
    expect(message.content).toEqual([
      { type: 'file', file: { file_id: 'file-a', filename: 'notes.txt' } },
      { type: 'file', file: { file_id: 'file-b' } },
    ]);
    expect([...params.values()]).toEqual(['input[0].content[0].file_id', 'input[0].content[1].file_id']);
  });

  it('names the offending field of a bad item', () => {
    expect(paramOf(() => inputMessages([{ role: 'user' }]))).toBe('input[0].content');
    expect(paramOf(() => inputMessages([{ role: 'user', content: [{ type: 'input_audio' }] }]))).toBe('input[0].content[0].type');
    expect(paramOf(() => inputMessages([{ type: 'function_call', call_id: 'c', name: 'f' }]))).toBe('input[0].arguments');
    expect(paramOf(() => inputMessages([{ role: 'user', content: [{ type: 'input_file', file_id: 42 }] }]))).toBe(
      'input[0].content[0].file_id',
    );
    expect(paramOf(() => inputMessages([{ role: 'user', content: [{ type: 'input_image' }] }]))).toBe('input[0].content[0].image_url');
  });

  it('says a content part must be an object with a type, naming the part', () => {
    const errorOf = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return (error as ApiError).body.error;
      }
      throw new Error('expected a 400');
    };
    for (const part of ['a cat', null, 7, ['input_text']]) {
      expect(errorOf(() => inputMessages([{ role: 'user', content: [{ type: 'input_text', text: 'Look:' }, part] }]))).toEqual({
        message:
          "Invalid value for 'input[0].content[1]': must be a content part object with a `type` (input_text, input_image, input_file, output_text).",
        type: 'invalid_request_error',
        param: 'input[0].content[1]',
        code: 'invalid_value',
      });
    }
    expect(errorOf(() => inputMessages([{ role: 'user', content: [{ text: 'hi' }] }]))).toMatchObject({
      message: "Missing required parameter: 'input[0].content[0].type'.",
      param: 'input[0].content[0].type',
      code: 'missing_required_parameter',
    });
    expect(errorOf(() => inputMessages([{ type: 'function_call_output', call_id: 'c', output: [null] }]))).toMatchObject({
      message: "Invalid value for 'input[0].output[0]': must be a content part object with a `type` (input_text, output_text).",
      param: 'input[0].output[0]',
      code: 'invalid_value',
    });
  });

  it('builds the chat request: instructions first, flat tools nested, text.format as response_format, the continuation ids', () => {
    const request = chatRequestFor(
      {
        model: 'gpt-4o',
        instructions: 'Be brief.',
        input: 'hi',
        tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
        tool_choice: { type: 'function', name: 'f' },
        parallel_tool_calls: false,
        text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' } } },
        max_output_tokens: 50,
      },
      { conversationId: 'conv', parentMessageId: 'msg' },
    );
    expect(request).toMatchObject({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
      max_completion_tokens: 50,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } },
      conversation_id: 'conv',
      parent_message_id: 'msg',
    });
    expect(chatRequestFor({ input: 'x', text: { format: { type: 'text' } } }).response_format).toBeUndefined();
  });
});
