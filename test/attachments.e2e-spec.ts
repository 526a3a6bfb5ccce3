import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIError } from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { solidPng } from './fake-upstream/png';
import { Stack, startStack } from './support/stack';

const PNG = solidPng(3, 2);

/** Client images and files: what a request may make this server read, and how the bytes reach the upstream. */
describe('attachments', () => {
  const BUDGET = 64 * 1024;
  let stack: Stack;
  let token: string;
  let files: Server;
  let filesUrl: string;
  /** The paths the file server was asked for. */
  const fetched: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { ALLOW_PRIVATE_FILE_URLS: 'true', MAX_ATTACHMENTS_SIZE: `${BUDGET}` } });
    token = stack.fake.createAccessToken({ plan: 'plus' });
    // `/bytes/N`: N bytes of text; `/photo.png?type=T`: a PNG sent as type T.
    files = createServer((request, response) => {
      fetched.push(request.url!);
      const url = new URL(request.url!, 'http://files');
      if (url.pathname === '/photo.png') return response.writeHead(200, { 'content-type': url.searchParams.get('type')! }).end(PNG);
      const size = Number(/^\/bytes\/(\d+)$/.exec(url.pathname)?.[1] ?? 0);
      response.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(size, 'a'));
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await stack.close();
    await new Promise<void>((resolve) => files.close(() => resolve()));
  });
  beforeEach(() => {
    stack.fake.reset();
    fetched.length = 0;
  });

  const ask = (key: string, parts: ChatCompletionContentPart[]) =>
    stack.openai(key).chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Read these.' }, ...parts] }],
    });
  const urlPart = (path: string): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: `${filesUrl}${path}` } });
  const inlinePart = (size: number): ChatCompletionContentPart => ({
    type: 'file',
    file: { file_data: `data:text/plain;base64,${Buffer.alloc(size, 'b').toString('base64')}`, filename: 'notes.txt' },
  });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => Promise.reject(new Error('expected an error')),
      (error: APIError) => error,
    );

  describe('MAX_ATTACHMENTS_SIZE', () => {
    it('refuses fetched files past the budget with 413, and stops fetching at the part that goes over it', async () => {
      const error = await failure(ask(token, [urlPart('/bytes/40000'), urlPart('/bytes/40001'), urlPart('/bytes/40002')]));
      expect(error.status).toBe(413);
      expect(error.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'attachments_too_large',
        param: 'messages[0].content[2].image_url.url',
      });
      expect(error.message).toContain(`${BUDGET} bytes`);
      expect(fetched).toEqual(['/bytes/40000', '/bytes/40001']);
      expect(stack.fake.conversationRequests()).toHaveLength(0);
    });

    it('counts inline files and fetched ones together', async () => {
      const inlineOnly = await failure(ask(token, [inlinePart(40_000), inlinePart(40_000)]));
      expect(inlineOnly.status).toBe(413);
      expect(inlineOnly.error).toMatchObject({ code: 'attachments_too_large', param: 'messages[0].content[2].file.file_data' });
      expect(stack.fake.requests).toEqual([]);

      const mixed = await failure(ask(token, [inlinePart(40_000), urlPart('/bytes/40000')]));
      expect(mixed.status).toBe(413);
      expect(mixed.error).toMatchObject({ code: 'attachments_too_large', param: 'messages[0].content[2].image_url.url' });
    });

    it('lets files within the budget through', async () => {
      const completion = await ask(token, [inlinePart(20_000), urlPart('/bytes/20000'), urlPart('/bytes/20000')]);
      expect(completion.choices[0].message.content).toBeTruthy();
      expect(fetched).toHaveLength(2);
      expect(stack.fake.requests.filter((sent) => sent.method === 'PUT')).toHaveLength(3);
    });
  });

  describe('Responses input_file with file_url', () => {
    it("uploads the fetched file under the client's filename, not the URL's last segment", async () => {
      await stack.openai(token).responses.create({
        model: 'gpt-4o',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Read this.' },
              { type: 'input_file', file_url: `${filesUrl}/bytes/12`, filename: 'Quarterly Report.txt' },
            ],
          },
        ],
      });
      expect(fetched).toEqual(['/bytes/12']);
      const created = stack.fake.requests.find((sent) => sent.method === 'POST' && sent.path === '/backend-api/files');
      expect(created?.body).toMatchObject({ file_name: 'Quarterly Report.txt' });
      const sent = stack.fake.conversationRequests()[0].body as { messages: { metadata: { attachments: { name: string }[] } }[] };
      expect(sent.messages[0].metadata.attachments.map((attachment) => attachment.name)).toEqual(['Quarterly Report.txt']);
    });
  });

  describe('images sent under another type', () => {
    it.each([
      ['a data: URL typed image/jpg', `data:image/jpg;base64,${PNG.toString('base64')}`],
      ['a data: URL without a type', `data:;base64,${PNG.toString('base64')}`],
      ['a data: URL typed application/octet-stream', `data:application/octet-stream;base64,${PNG.toString('base64')}`],
      ['a URL served as binary/octet-stream', '/photo.png?type=binary/octet-stream'],
      ['a URL served as application/octet-stream', '/photo.png?type=application/octet-stream'],
      ['a URL served as image/jpeg', '/photo.png?type=image/jpeg'],
    ])('uploads a PNG sent as %s as a PNG image', async (_case, source) => {
      const url = source.startsWith('/') ? `${filesUrl}${source}` : source;
      await ask(token, [{ type: 'image_url', image_url: { url } }]);

      const created = stack.fake.requests.find((sent) => sent.method === 'POST' && sent.path === '/backend-api/files');
      expect(created?.body).toMatchObject({ use_case: 'multimodal', file_name: expect.stringMatching(/\.png$/) });
      expect(stack.fake.requests.find((sent) => sent.method === 'PUT')?.headers['content-type']).toBe('image/png');
      const message = (
        stack.fake.conversationRequests()[0].body as {
          messages: { content: { content_type: string; parts: unknown[] }; metadata: { attachments: { mime_type: string }[] } }[];
        }
      ).messages[0];
      expect(message.content.content_type).toBe('multimodal_text');
      expect(message.content.parts[1]).toMatchObject({ content_type: 'image_asset_pointer', width: 3, height: 2 });
      expect(message.metadata.attachments[0].mime_type).toBe('image/png');
    });

    it('keeps a file that is no image as the type it was sent as', async () => {
      await ask(token, [
        { type: 'file', file: { file_data: `data:application/pdf;base64,${Buffer.from('%PDF-1.4 hello').toString('base64')}` } },
      ]);
      const created = stack.fake.requests.find((sent) => sent.method === 'POST' && sent.path === '/backend-api/files');
      expect(created?.body).toMatchObject({ use_case: 'my_files', file_name: expect.stringMatching(/\.pdf$/) });
      expect(stack.fake.requests.find((sent) => sent.method === 'PUT')?.headers['content-type']).toBe('application/pdf');
    });

    it('sends an uploaded document when the index status poll fails, as it does when indexing takes too long', async () => {
      stack.fake.failFileStatus(503);
      const answer = await ask(token, [inlinePart(10)]);
      expect(answer.choices[0].message.content).toEqual(expect.any(String));
      const sent = stack.fake.conversationRequests()[0].body as { messages: { metadata: { attachments: { name: string }[] } }[] };
      expect(sent.messages[0].metadata.attachments).toEqual([expect.objectContaining({ name: 'notes.txt' })]);
      expect(stack.fake.requests.filter((request) => request.method === 'POST' && request.path === '/backend-api/files')).toHaveLength(1);
    });
  });

  describe('a credential the upstream refuses', () => {
    it('fetches nothing for an AccessToken the upstream does not know', async () => {
      const forged = stack.fake.createAccessToken();
      stack.fake.revokeAccessToken(forged);
      const error = await failure(ask(forged, [urlPart('/bytes/1000')]));
      expect(error.status).toBe(401);
      expect(error.code).toBe('invalid_api_key');
      expect(fetched).toEqual([]);
    });

    it('fetches nothing for a RefreshToken the auth server refuses', async () => {
      const refresh = stack.fake.createRefreshToken();
      stack.fake.revokeRefreshToken(refresh);
      const error = await failure(ask(refresh, [urlPart('/bytes/1000')]));
      expect(error.status).toBe(401);
      expect(fetched).toEqual([]);
    });

    it('still refuses a bad URL before any upstream call', async () => {
      const error = await failure(ask(token, [{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }]));
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ code: 'invalid_value', param: 'messages[0].content[1].image_url.url' });
      expect(stack.fake.requests).toEqual([]);
    });
  });
});

/** `UPLOAD_BY_URL=true`: a message written `URL URL … text` sends its leading URLs as attachments. */
describe('UPLOAD_BY_URL', () => {
  let stack: Stack;
  let token: string;
  let files: Server;
  let filesUrl: string;
  const fetched: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { ALLOW_PRIVATE_FILE_URLS: 'true', UPLOAD_BY_URL: 'true' } });
    token = stack.fake.createAccessToken({ plan: 'plus' });
    files = createServer((request, response) => {
      fetched.push(request.url!);
      response.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await stack.close();
    await new Promise<void>((resolve) => files.close(() => resolve()));
  });
  beforeEach(() => {
    stack.fake.reset();
    fetched.length = 0;
  });

  const say = (content: string) => stack.openai(token).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }] });
  const sentParts = () =>
    (stack.fake.conversationRequests()[0].body as { messages: { content: { content_type: string; parts: unknown[] } }[] }).messages[0]
      .content;

  it('attaches the leading URLs and sends the rest as the text', async () => {
    await say(`${filesUrl}/a.png ${filesUrl}/b.png What is in these?`);

    expect(fetched).toEqual(['/a.png', '/b.png']);
    const content = sentParts();
    expect(content.content_type).toBe('multimodal_text');
    expect(content.parts).toEqual([
      'What is in these?',
      expect.objectContaining({ content_type: 'image_asset_pointer' }),
      expect.objectContaining({ content_type: 'image_asset_pointer' }),
    ]);
  });

  it('attaches a message that is only a URL', async () => {
    await say(`${filesUrl}/only.png`);

    expect(fetched).toEqual(['/only.png']);
    expect(sentParts().parts).toEqual([expect.objectContaining({ content_type: 'image_asset_pointer' })]);
  });

  it('leaves a URL inside the text alone', async () => {
    await say(`Look at ${filesUrl}/inside.png please`);

    expect(fetched).toEqual([]);
    expect(sentParts().parts).toEqual([`Look at ${filesUrl}/inside.png please`]);
  });
});
