import { ApiError } from '../../common/errors/api-error';
import { createValidationPipe } from '../../common/pipes/validation';
import { ChatCompletionRequestDto, contentProblem, isContentParts } from './chat-completion.dto';

/** The request as the ValidationPipe hands it to the controller, or the error it answers with. */
async function validated(body: unknown): Promise<ChatCompletionRequestDto | ApiError> {
  try {
    return (await createValidationPipe().transform(body, { type: 'body', metatype: ChatCompletionRequestDto })) as ChatCompletionRequestDto;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
}

describe('message content parts', () => {
  it('accepts text, image_url and file parts, and refusal parts in assistant history', async () => {
    const request = await validated({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] },
        { role: 'user', content: [{ type: 'file', file: { file_data: 'data:text/plain;base64,aGk=', filename: 'a.txt' } }] },
      ],
    });
    expect(request).toBeInstanceOf(ChatCompletionRequestDto);
    expect((request as ChatCompletionRequestDto).messages[1].content).toEqual([{ type: 'refusal', refusal: 'I cannot help with that.' }]);
  });

  it.each([
    [
      'a refusal outside assistant turns',
      { role: 'user', content: [{ type: 'refusal', refusal: 'no' }] },
      'messages[0].content[0].type',
      'unsupported_content',
    ],
    [
      'a refusal that is not a string',
      { role: 'assistant', content: [{ type: 'refusal', refusal: 3 }] },
      'messages[0].content[0].refusal',
      'invalid_value',
    ],
    [
      'a refusal without its text',
      { role: 'assistant', content: [{ type: 'refusal' }] },
      'messages[0].content[0].refusal',
      'missing_required_parameter',
    ],
    [
      'an unknown part type',
      { role: 'user', content: [{ type: 'input_audio', input_audio: {} }] },
      'messages[0].content[0].type',
      'unsupported_content',
    ],
    [
      'an image_url whose filename is not a string',
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png', filename: 7 } }] },
      'messages[0].content[0].image_url.filename',
      'invalid_value',
    ],
    [
      'a file without data',
      { role: 'user', content: [{ type: 'file', file: { filename: 'a.txt' } }] },
      'messages[0].content[0].file.file_data',
      'missing_required_parameter',
    ],
    [
      'a file named by an empty Files API id',
      { role: 'user', content: [{ type: 'file', file: { file_id: '' } }] },
      'messages[0].content[0].file.file_id',
      'invalid_value',
    ],
    [
      'a file named by a Files API id that is not a string',
      { role: 'user', content: [{ type: 'file', file: { file_id: 7 } }] },
      'messages[0].content[0].file.file_id',
      'invalid_value',
    ],
  ])('refuses %s, naming the field', async (_name, message, param, code) => {
    const error = await validated({ messages: [message] });
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', param, code });
  });

  it('is the one type guard: the role decides whether a refusal part is content', () => {
    const parts: unknown = [{ type: 'refusal', refusal: 'no' }];
    expect(isContentParts(parts, 'assistant')).toBe(true);
    expect(isContentParts(parts, 'user')).toBe(false);
    expect(contentProblem(parts, 'user')).toMatchObject({ path: '[0].type', code: 'unsupported_content_part' });
    expect(isContentParts('text', 'user')).toBe(false);
  });
});

describe('an empty list of tools', () => {
  it.each(['tools', 'functions'])('is refused as OpenAI refuses it: %s: []', async (field) => {
    const error = await validated({ messages: [{ role: 'user', content: 'hi' }], [field]: [] });
    expect((error as ApiError).body).toEqual({
      error: { message: `[] is too short - '${field}'`, type: 'invalid_request_error', param: field, code: 'empty_array' },
    });
    expect((error as ApiError).getStatus()).toBe(400);
  });
});

describe('a field of the wrong type', () => {
  const message = { role: 'user', content: 'hi' };
  it.each([
    ['tools as an object', { messages: [message], tools: { type: 'function' } }, 'tools'],
    ['messages as an object', { messages: { role: 'user' } }, 'messages'],
    ['stream_options as an array', { messages: [message], stream_options: [true] }, 'stream_options'],
    ['a message as a list', { messages: [message, [message]] }, 'messages[1]'],
    ['a tool as a list', { messages: [message], tools: [[{ type: 'function', function: { name: 'f' } }]] }, 'tools[0]'],
  ])('is an invalid value, never a missing one: %s', async (_name, body, param) => {
    const error = await validated(body);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', param, code: 'invalid_value' });
  });

  it('is missing only when absent or null', async () => {
    for (const messages of [undefined, null]) {
      const error = await validated({ messages });
      expect((error as ApiError).body.error).toMatchObject({ param: 'messages', code: 'missing_required_parameter' });
    }
  });
});

describe('stop', () => {
  const messages = [{ role: 'user', content: 'hi' }];

  it.each([
    ['a string', '\n\nUser:'],
    ['an array of up to 4', ['a', 'b', '', 'd']],
    ['an empty array', []],
    ['null', null],
  ])('accepts %s', async (_name, stop) => {
    expect(await validated({ messages, stop })).toBeInstanceOf(ChatCompletionRequestDto);
  });

  it.each([
    ['more than 4 strings', ['a', 'b', 'c', 'd', 'e'], 'stop', 'array_above_max_length'],
    ['a number', 5, 'stop', 'invalid_value'],
    ['an object', { text: 'x' }, 'stop', 'invalid_value'],
    ['an item that is not a string', ['a', null], 'stop[1]', 'invalid_value'],
  ])('refuses %s with 400 naming the field', async (_name, stop, param, code) => {
    const error = await validated({ messages, stop });
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(400);
    expect((error as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', param, code });
  });
});
