import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import OpenAI, { APIError, toFile } from 'openai';
import request from 'supertest';
import { solidPng } from './fake-upstream/png';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

/** MAX_BODY_SIZE of this suite: small, so that an over-large upload costs little. */
const BODY_LIMIT = 256 * 1024;
const SOURCE = solidPng(64, 48, [200, 40, 40]);
const SECOND = solidPng(32, 32, [40, 40, 200]);

interface SentMessage {
  content: { content_type: string; parts: unknown[] };
  metadata: { attachments?: { id: string; mime_type: string; width?: number; height?: number }[] };
}

/** `POST /v1/images/edits`: OpenAI's multipart image edit, drawn by the upstream's image tool from uploaded images. */
describe('image edits', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { MAX_BODY_SIZE: `${BODY_LIMIT}` } });
    token = stack.fake.createAccessToken({ plan: 'plus' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const edit = () => request(stack.url).post('/v1/images/edits').set('authorization', `Bearer ${token}`);
  const sentMessage = () => (stack.fake.conversationRequests()[0].body as { messages: SentMessage[] }).messages[0];
  /** The bytes the upstream received for each image attached to the drawing request. */
  const uploadedImages = () => (sentMessage().metadata.attachments ?? []).map((file) => stack.fake.uploadedFile(file.id)?.bytes);

  describe('over HTTP', () => {
    it('uploads the image as a chat attachment, asks the image tool to edit it, and answers b64_json by default', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'The red square, now with a hat' });
      const response = await edit().field('prompt', 'give it a hat').attach('image', SOURCE, 'square.png').expect(200);
      expect(response.body.data).toHaveLength(1);
      expect(response.body.data[0].revised_prompt).toBe('The red square, now with a hat');
      expect(Buffer.from(response.body.data[0].b64_json, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(response.body).toMatchObject({ size: '1024x1024', output_format: 'png', quality: 'auto', background: 'auto' });
      // Usage estimates the source image as a chat attachment: 64x48 is one tile, 255 tokens.
      const usage = response.body.usage;
      expect(usage.input_tokens_details).toEqual({ image_tokens: 255, text_tokens: expect.any(Number) });
      expect(usage.input_tokens).toBe(255 + usage.input_tokens_details.text_tokens);

      const message = sentMessage();
      expect(message.content.content_type).toBe('multimodal_text');
      expect(message.content.parts[0]).toMatchObject({ content_type: 'image_asset_pointer', width: 64, height: 48 });
      expect(message.content.parts[1]).toEqual(expect.stringContaining('edit the attached image'));
      expect(message.content.parts[1]).toEqual(expect.stringContaining('give it a hat'));
      expect(message.metadata.attachments).toEqual([expect.objectContaining({ mime_type: 'image/png', width: 64, height: 48 })]);
      expect(uploadedImages()).toEqual([SOURCE]);
      expect(stack.fake.uploadedFile(message.metadata.attachments![0].id)?.useCase).toBe('multimodal');
    });

    it('takes several images as repeated `image` fields and as `image[]`, in order', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'Both squares' });
      await edit().field('prompt', 'put them side by side').attach('image', SOURCE, 'a.png').attach('image', SECOND, 'b.png').expect(200);
      expect(uploadedImages()).toEqual([SOURCE, SECOND]);

      stack.fake.reset();
      stack.fake.enqueue({ kind: 'image', prompt: 'Both squares' });
      await edit().field('prompt', 'side by side').attach('image[]', SECOND, 'b.png').attach('image[]', SOURCE, 'a.png').expect(200);
      expect(uploadedImages()).toEqual([SECOND, SOURCE]);
      expect(sentMessage().content.parts[2]).toEqual(expect.stringContaining('edit the attached images'));
    });

    it('answers a durable url with response_format url, and converts with output_format', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const linked = await edit()
        .field('prompt', 'a hat')
        .field('model', 'dall-e-2')
        .field('response_format', 'url')
        .field('size', '512x512')
        .attach('image', SOURCE, 'square.png')
        .expect(200);
      expect(linked.body.data[0].url).toMatch(new RegExp(`^${stack.url}/files/[A-Za-z0-9_-]{32}$`));
      expect(sentMessage().content.parts[1]).toEqual(expect.stringContaining('512x512'));

      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const converted = await edit()
        .field('prompt', 'a hat')
        .field('output_format', 'jpeg')
        .field('output_compression', '60')
        .attach('image', SOURCE, 'square.png')
        .expect(200);
      const bytes = Buffer.from(converted.body.data[0].b64_json, 'base64');
      expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
      expect(converted.body.output_format).toBe('jpeg');
    });

    it('streams image_edit.completed with stream=true', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const response = await edit().field('prompt', 'a hat').field('stream', 'true').attach('image', SOURCE, 'square.png').expect(200);
      expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
      const blocks = response.text.split('\n\n').filter((block) => block.startsWith('event: '));
      expect(blocks).toHaveLength(1);
      expect(blocks[0]).toMatch(/^event: image_edit\.completed\ndata: \{"type":"image_edit\.completed","b64_json":"/);
    });

    it('refuses a missing image or prompt, a mask, a non-image and a broken image with 400 naming the field, before any upstream work', async () => {
      const cases: [request.Test, number, string, string][] = [
        [edit().field('prompt', 'a hat'), 400, 'image', 'missing_required_parameter'],
        [edit().attach('image', SOURCE, 'square.png'), 400, 'prompt', 'missing_required_parameter'],
        [edit().field('prompt', 'a hat').field('image', 'https://example.com/a.png'), 400, 'image', 'invalid_value'],
        [
          edit().field('prompt', 'a hat').attach('image', SOURCE, 'a.png').attach('mask', SOURCE, 'm.png'),
          400,
          'mask',
          'unsupported_parameter',
        ],
        [
          edit().field('prompt', 'a hat').attach('image', Buffer.from('just some text'), 'notes.txt'),
          400,
          'image',
          'unsupported_file_mimetype',
        ],
        [edit().field('prompt', 'a hat').attach('image', SOURCE.subarray(0, 60), 'cut.png'), 400, 'image', 'invalid_image_file'],
        [
          edit().field('prompt', 'a hat').attach('image', SOURCE, 'a.png').attach('image', SECOND, 'b.png').field('model', 'dall-e-2'),
          400,
          'image',
          'invalid_value',
        ],
        [edit().field('prompt', 'a hat').field('n', '2').attach('image', SOURCE, 'a.png'), 400, 'n', 'invalid_value'],
        [
          edit().field('prompt', 'a hat').field('model', 'gpt-image-1').field('size', '512x512').attach('image', SOURCE, 'a.png'),
          400,
          'size',
          'invalid_value',
        ],
        [edit().field('prompt', 'a hat').attach('picture', SOURCE, 'a.png'), 400, 'picture', 'invalid_value'],
      ];
      for (const [test, status, param, code] of cases) {
        const response = await test;
        expect({ status: response.status, param: response.body.error?.param, code: response.body.error?.code }).toEqual({
          status,
          param,
          code,
        });
        expect(response.body.error.type).toBe('invalid_request_error');
      }
      const unsupportedType = await edit().field('prompt', 'a hat').attach('image', Buffer.from('just some text'), 'notes.txt');
      expect(unsupportedType.body.error.message).toBe(
        "Invalid file 'image': unsupported mimetype ('text/plain'). Supported file formats are 'image/png', 'image/jpeg', 'image/webp'.",
      );
      expect(stack.fake.requests).toEqual([]);
    });

    it('refuses a body over MAX_BODY_SIZE with 413, whether it declares its length or not', async () => {
      const big = Buffer.concat([SOURCE, Buffer.alloc(BODY_LIMIT)]);
      const declared = await edit().field('prompt', 'a hat').attach('image', big, 'big.png');
      expect(declared.status).toBe(413);
      expect(declared.body.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });

      // Chunked: no Content-Length, so the limit is met while the body arrives.
      const boundary = 'flowgpt-boundary';
      const head = Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\na hat\r\n` +
          `--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="big.png"\r\ncontent-type: image/png\r\n\r\n`,
      );
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL('/v1/images/edits', stack.url);
        const sent = httpRequest(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'transfer-encoding': 'chunked',
          },
        });
        sent.on('response', (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        });
        sent.on('error', reject);
        sent.write(head);
        for (let written = 0; written < 2 * BODY_LIMIT; written += 16 * 1024) sent.write(Buffer.alloc(16 * 1024));
        sent.end(tail);
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).error.code).toBe('request_too_large');
      expect(stack.fake.requests).toEqual([]);
    });

    it('refuses a form sent with a Content-Encoding with 415, compressed or only labelled so, before any upstream work', async () => {
      const boundary = 'flowgpt-boundary';
      const form = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\na hat\r\n` +
            `--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`,
        ),
        SOURCE,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      for (const [encoding, body] of [
        ['gzip', gzipSync(form)],
        ['gzip', form],
        ['br', form],
      ] as const) {
        const response = await edit()
          .set('content-type', `multipart/form-data; boundary=${boundary}`)
          .set('content-encoding', encoding)
          .send(body);
        expect({ encoding, status: response.status, code: response.body.error?.code }).toEqual({
          encoding,
          status: 415,
          code: 'unsupported_encoding',
        });
      }
      expect(stack.fake.requests).toEqual([]);
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      await edit()
        .set('content-type', `multipart/form-data; boundary=${boundary}`)
        .set('content-encoding', 'identity')
        .send(form)
        .expect(200);
    });

    it('bounds the form: too many fields or files are 400s, naming the field when one is at fault, before any upstream work', async () => {
      let manyFields = edit().attach('image', SOURCE, 'a.png');
      for (let i = 0; i < 65; i++) manyFields = manyFields.field(`f${i}`, 'x');
      const fields = await manyFields;
      expect({ status: fields.status, code: fields.body.error?.code }).toEqual({ status: 400, code: 'invalid_multipart' });

      let manyFiles = edit().field('prompt', 'x');
      for (let i = 0; i < 17; i++) manyFiles = manyFiles.attach('image', SOURCE, `${i}.png`);
      const files = await manyFiles;
      expect({ status: files.status, code: files.body.error?.code, param: files.body.error?.param }).toEqual({
        status: 400,
        code: 'invalid_value',
        param: 'image',
      });
      expect(stack.fake.requests).toEqual([]);
    });

    it("never sends the client's file name upstream: a path or non-ASCII name becomes a generated one", async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      await edit().field('prompt', 'a hat').attach('image', SOURCE, '../../etc/ünïcødé photo.png').expect(200);
      const [attachment] = sentMessage().metadata.attachments ?? [];
      expect(stack.fake.uploadedFile(attachment.id)?.name).toMatch(/^[0-9a-f-]{36}\.png$/);
    });

    it('takes the form with a trailing slash and a query too, as the router serves the route there', async () => {
      for (const path of ['/v1/images/edits/', '/v1/images/edits?trace=1', '/v1/images/edits/?trace=1']) {
        stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
        const response = await request(stack.url)
          .post(path)
          .set('authorization', `Bearer ${token}`)
          .field('prompt', 'a hat')
          .attach('image', SOURCE, 'square.png');
        expect({ path, status: response.status }).toEqual({ path, status: 200 });
      }
    });

    it('refuses other content types with 415 and a malformed form with 400, and needs a key', async () => {
      const text = await edit().set('content-type', 'text/plain').send('a hat');
      expect(text.status).toBe(415);
      expect(text.body.error.code).toBe('unsupported_media_type');
      const cut = await edit()
        .set('content-type', 'multipart/form-data; boundary=flowgpt-boundary')
        .send('--flowgpt-boundary\r\ncontent-disposition: form-data; name="prompt"\r\n\r\na hat');
      expect(cut.status).toBe(400);
      expect(cut.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart' });
      const noKey = await request(stack.url).post('/v1/images/edits').field('prompt', 'a hat').attach('image', SOURCE, 'a.png');
      expect(noKey.status).toBe(401);

      // Authentication comes before the body: a client without a key that announces 30 MB and sends 1 KB is answered at once.
      const announced = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const sent = httpRequest(new URL('/v1/images/edits', stack.url), {
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=b', 'content-length': String(30 * 1024 * 1024) },
        });
        sent.on('response', (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        });
        sent.on('error', reject);
        sent.write(Buffer.alloc(1024));
      });
      expect(announced.status).toBe(401);
      expect(JSON.parse(announced.body).error.code).toBe('invalid_api_key');
    });
  });

  describe('when the upstream refuses the upload', () => {
    afterEach(() => stack.fake.useControlRoutes(() => undefined));
    const puts = () => stack.fake.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/blob/'));

    it('answers its 413 as 413 request_too_large about the file, without retrying or drawing', async () => {
      stack.fake.useControlRoutes((r) =>
        r.method === 'PUT' && r.path.startsWith('/blob/') ? { status: 413, body: { detail: 'The request body is too large' } } : undefined,
      );
      const response = await edit().field('prompt', 'a hat').attach('image', SOURCE, 'square.png');
      expect(response.status).toBe(413);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large', param: null });
      expect(response.body.error.message).toMatch(/^The upstream refused an uploaded file as too large/);
      expect(puts()).toHaveLength(1);
      expect(stack.fake.conversationRequests()).toEqual([]);
    });

    it('answers its 400 as 400 upstream_rejected, and its 5xx as 502 after the retries', async () => {
      stack.fake.useControlRoutes((r) =>
        r.method === 'POST' && r.path === '/backend-api/files' ? { status: 400, body: { detail: 'Invalid file' } } : undefined,
      );
      const rejected = await edit().field('prompt', 'a hat').attach('image', SOURCE, 'square.png');
      expect(rejected.status).toBe(400);
      expect(rejected.body.error).toMatchObject({ type: 'invalid_request_error', code: 'upstream_rejected' });
      expect(rejected.body.error.message).toContain('Invalid file');

      stack.fake.useControlRoutes((r) =>
        r.method === 'POST' && r.path === '/backend-api/files' ? { status: 503, body: { detail: 'busy' } } : undefined,
      );
      const failed = await edit().field('prompt', 'a hat').attach('image', SOURCE, 'square.png');
      expect(failed.status).toBe(502);
      expect(failed.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_status' });
      expect(JSON.stringify(failed.body)).not.toContain(token);
      expect(stack.fake.conversationRequests()).toEqual([]);
    });
  });

  describe('as JSON with `images` references', () => {
    const dataUrl = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`;

    it('edits data: URL images, in order, as it edits uploaded files', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'Both squares' });
      const response = await edit()
        .send({ prompt: 'side by side', images: [{ image_url: dataUrl(SOURCE) }, { image_url: dataUrl(SECOND) }] })
        .expect(200);
      expect(Buffer.from(response.body.data[0].b64_json, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(uploadedImages()).toEqual([SOURCE, SECOND]);
      expect(sentMessage().content.parts[2]).toEqual(expect.stringContaining('edit the attached images'));
      expect(response.body.usage.input_tokens_details.image_tokens).toBeGreaterThan(0);
    });

    it('edits through the SDK, which sends a JSON body with client.post', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const edited = await stack.openai(token).post<OpenAI.ImagesResponse>('/images/edits', {
        body: { model: 'gpt-image-1', prompt: 'a hat', images: [{ image_url: dataUrl(SOURCE) }] },
      });
      expect(edited.data?.[0].b64_json).toBeTruthy();
      expect(uploadedImages()).toEqual([SOURCE]);
    });

    it('edits an image uploaded to /v1/files by file_id, and refuses another key’s file_id or an unknown one', async () => {
      const upload = (key: string, bytes: Buffer, name: string) =>
        request(stack.url).post('/v1/files').set('authorization', `Bearer ${key}`).field('purpose', 'vision').attach('file', bytes, name);
      const id = (await upload(token, SOURCE, 'square.png').expect(200)).body.id as string;
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const response = await edit()
        .send({ prompt: 'a hat', images: [{ file_id: id }, { image_url: dataUrl(SECOND) }] })
        .expect(200);
      expect(response.body.data[0].b64_json).toBeTruthy();
      expect(uploadedImages()).toEqual([SOURCE, SECOND]);

      // An upload asks the upstream whether its key is good: uploaded before the count of upstream requests starts.
      const notes = (await upload(token, Buffer.from('not an image'), 'notes.txt').expect(200)).body.id as string;
      stack.fake.reset();
      const other = stack.fake.createAccessToken({ plan: 'plus' });
      for (const [key, images, param, code] of [
        [other, [{ file_id: id }], 'images[0].file_id', 'invalid_value'],
        [token, [{ image_url: dataUrl(SECOND) }, { file_id: 'file-doesnotexist' }], 'images[1].file_id', 'invalid_value'],
        [token, [{ file_id: notes }], 'images[0].file_id', 'unsupported_file_mimetype'],
      ] as const) {
        const refused = await request(stack.url)
          .post('/v1/images/edits')
          .set('authorization', `Bearer ${key}`)
          .send({ prompt: 'a hat', images })
          .expect(400);
        expect(refused.body.error).toMatchObject({ type: 'invalid_request_error', code, param });
      }
      expect(stack.fake.requests).toEqual([]);
    });

    it('refuses dall-e-2, a mask, a bad or private image_url and mixed forms with 400 naming the field, before any upstream work', async () => {
      const png = dataUrl(SOURCE);
      const cases: [object, string, string][] = [
        [{ prompt: 'a hat', model: 'dall-e-2', images: [{ file_id: 'file-abc' }] }, 'model', 'invalid_value'],
        [{ prompt: 'a hat', model: 'dall-e-2', images: [{ image_url: png }] }, 'model', 'invalid_value'],
        [{ prompt: 'a hat', model: 'dall-e-3', images: [{ image_url: png }] }, 'model', 'invalid_value'],
        [{ prompt: 'a hat', images: [{ image_url: png }], mask: { image_url: png } }, 'mask', 'unsupported_parameter'],
        [{ prompt: 'a hat' }, 'images', 'missing_required_parameter'],
        [{ prompt: 'a hat', images: [] }, 'images', 'empty_array'],
        [{ prompt: 'a hat', images: [{ image_url: png, file_id: 'file-abc' }] }, 'images[0]', 'invalid_value'],
        [{ prompt: 'a hat', images: [{ image_url: 'data:image/png;base64,!!' }] }, 'images[0].image_url', 'invalid_base64'],
        [
          { prompt: 'a hat', images: [{ image_url: `data:text/plain;base64,${Buffer.from('hello').toString('base64')}` }] },
          'images[0].image_url',
          'unsupported_file_mimetype',
        ],
        [{ prompt: 'a hat', images: [{ image_url: 'ftp://example.com/a.png' }] }, 'images[0].image_url', 'invalid_value'],
        // The SSRF guard of chat image URLs: no private address unless ALLOW_PRIVATE_FILE_URLS.
        [{ prompt: 'a hat', images: [{ image_url: 'http://127.0.0.1:9/a.png' }] }, 'images[0].image_url', 'invalid_image_url'],
      ];
      for (const [body, param, code] of cases) {
        const response = await edit().send(body);
        expect({ status: response.status, param: response.body.error?.param, code: response.body.error?.code }).toEqual({
          status: 400,
          param,
          code,
        });
      }
      const both = await edit().field('prompt', 'a hat').field('images[0][image_url]', png).attach('image', SOURCE, 'a.png');
      expect({ status: both.status, param: both.body.error?.param }).toEqual({ status: 400, param: 'images' });
      expect(stack.fake.requests).toEqual([]);
    });
  });

  describe('with the openai SDK', () => {
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => Promise.reject(new Error('expected an error')),
        (error: APIError) => error,
      );

    it('edits one image and several with client.images.edit and toFile', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const edited = await stack.openai(token).images.edit({
        model: 'gpt-image-1',
        image: await toFile(SOURCE, 'square.png', { type: 'image/png' }),
        prompt: 'give it a hat',
      });
      expect(Buffer.from(edited.data![0].b64_json!, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(uploadedImages()).toEqual([SOURCE]);

      stack.fake.reset();
      stack.fake.enqueue({ kind: 'image', prompt: 'Both' });
      const combined = await stack.openai(token).images.edit({
        image: [await toFile(SOURCE, 'a.png'), await toFile(SECOND, 'b.png')],
        prompt: 'side by side',
        response_format: 'url',
      });
      expect(combined.data![0].url).toMatch(/\/files\/[A-Za-z0-9_-]{32}$/);
      expect(uploadedImages()).toEqual([SOURCE, SECOND]);
    });

    it('streams the edit as the SDK reads it', async () => {
      stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
      const stream = await stack.openai(token).images.edit({
        model: 'gpt-image-1',
        image: await toFile(SOURCE, 'square.png', { type: 'image/png' }),
        prompt: 'give it a hat',
        stream: true,
      });
      const events: OpenAI.Images.ImageEditStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      expect(events.map((event) => event.type)).toEqual(['image_edit.completed']);
    });

    it('throws the 400 of dall-e-3, which edits nothing at OpenAI, naming model', async () => {
      const error = await failure(
        stack.openai(token).images.edit({ model: 'dall-e-3', image: await toFile(SOURCE, 'square.png'), prompt: 'a hat' }),
      );
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'invalid_value' });
      expect(stack.fake.requests).toEqual([]);
    });

    it('throws the 400 of a mask as an APIError naming mask', async () => {
      const error = await failure(
        stack.openai(token).images.edit({
          image: await toFile(SOURCE, 'square.png'),
          mask: await toFile(SOURCE, 'mask.png'),
          prompt: 'a hat in the transparent area',
        }),
      );
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ param: 'mask', code: 'unsupported_parameter' });
    });
  });
});

/** `images[].image_url` with http(s) URLs: fetched as a chat fetches image URLs, once, when the attempt needs the bytes. */
describe('image edits from image URLs', () => {
  let stack: Stack;
  let token: string;
  let files: Server;
  let filesUrl: string;
  const fetched: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { ALLOW_PRIVATE_FILE_URLS: 'true', RETRY_TIMES: '3' } });
    token = stack.fake.createAccessToken({ plan: 'plus' });
    files = createServer((request, response) => {
      fetched.push(request.url!);
      if (request.url === '/square.png') return response.writeHead(200, { 'content-type': 'image/png' }).end(SOURCE);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('not an image');
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

  const edit = () => request(stack.url).post('/v1/images/edits').set('authorization', `Bearer ${token}`);

  it('fetches the image, uploads it and edits it', async () => {
    stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
    const response = await edit()
      .send({ prompt: 'a hat', images: [{ image_url: `${filesUrl}/square.png` }] })
      .expect(200);
    expect(response.body.data[0].b64_json).toBeTruthy();
    expect(fetched).toEqual(['/square.png']);
    const message = (stack.fake.conversationRequests()[0].body as { messages: { metadata: { attachments: { id: string }[] } }[] })
      .messages[0];
    expect(stack.fake.uploadedFile(message.metadata.attachments[0].id)?.bytes).toEqual(SOURCE);
  });

  it('refuses a text field over 256 KB with 400 naming it (under the default MAX_BODY_SIZE)', async () => {
    const long = await edit()
      .field('prompt', 'x'.repeat(256 * 1024 + 1))
      .attach('image', SOURCE, 'a.png');
    expect({ status: long.status, code: long.body.error?.code, param: long.body.error?.param }).toEqual({
      status: 400,
      code: 'invalid_value',
      param: 'prompt',
    });

    expect(stack.fake.requests).toEqual([]);
  });

  it('refuses a fetched file that is no image with 400 naming the reference, and draws nothing', async () => {
    const response = await edit().send({ prompt: 'a hat', images: [{ image_url: `${filesUrl}/notes.txt` }] });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ param: 'images[0].image_url', code: 'unsupported_file_mimetype' });
    expect(stack.fake.conversationRequests()).toEqual([]);
  });
});

/** A pool key: each attempt uploads the images again as its own account, and no error shows an account's token. */
describe('image edits with a pool key', () => {
  const POOL_KEY = 'pool-key';
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: POOL_KEY, RANDOM_TOKEN: 'false', RETRY_TIMES: '3' } });
  });
  afterAll(() => stack.close());

  const edit = () => request(stack.url).post('/v1/images/edits').set('authorization', `Bearer ${POOL_KEY}`);
  const bearerOf = (r: { headers: Record<string, unknown> }) => String(r.headers.authorization).replace(/^Bearer /, '');

  it('retries on another account with the images uploaded again as that account', async () => {
    const [first, second] = [stack.fake.createAccessToken({ plan: 'plus' }), stack.fake.createAccessToken({ plan: 'plus' })];
    expect(await poolServicesOf(stack.app).admin.upload([first, second])).toMatchObject({ added: 2 });
    stack.fake.enqueue({ kind: 'status', status: 429, body: { detail: 'Too many requests' } });
    stack.fake.enqueue({ kind: 'image', prompt: 'A hat' });
    await edit().field('prompt', 'a hat').attach('image', SOURCE, 'square.png').expect(200);

    const conversations = stack.fake.conversationRequests();
    expect(conversations.map(bearerOf)).toEqual([first, second]);
    const uploads = stack.fake.requests.filter((r) => r.method === 'POST' && r.path === '/backend-api/files');
    expect(uploads.map(bearerOf)).toEqual([first, second]);
    const attached = (conversations[1].body as { messages: SentMessage[] }).messages[0].metadata.attachments ?? [];
    const firstAttached = (conversations[0].body as { messages: SentMessage[] }).messages[0].metadata.attachments ?? [];
    expect(attached).toHaveLength(1);
    expect(attached[0].id).not.toBe(firstAttached[0].id);
    expect(stack.fake.uploadedFile(attached[0].id)?.bytes).toEqual(SOURCE);

    stack.fake.reset();
    stack.fake.useControlRoutes((r) =>
      r.method === 'POST' && r.path === '/backend-api/files'
        ? { status: 413, body: { detail: `too large for ${bearerOf(r)}` } }
        : undefined,
    );
    const refused = await edit().field('prompt', 'a hat').attach('image', SOURCE, 'square.png');
    stack.fake.useControlRoutes(() => undefined);
    expect(refused.status).toBe(413);
    for (const token of [first, second]) {
      expect(JSON.stringify(refused.body)).not.toContain(token);
      expect(JSON.stringify(refused.body)).not.toContain(token.slice(0, 40));
    }
  });
});
