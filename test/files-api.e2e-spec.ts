import { request as httpRequest } from 'node:http';
import { toFile } from 'openai';
import type { FileObject } from 'openai/resources/files';
import request from 'supertest';
import { poolServicesOf } from '../src/token-pool/testing/pool-services';
import { solidPng } from './fake-upstream/png';
import { Stack, startStack } from './support/stack';

const POOL_KEY = 'pool-key-files';
const PNG = solidPng(4, 3);

interface SentMessage {
  content: { parts: unknown[] };
  metadata?: { attachments?: { id: string; name: string; mime_type: string }[] };
}

/** `/v1/files`, and conversations reading uploaded files by `file_id`. */
describe('Files API', () => {
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: POOL_KEY, FILES_MAX_SIZE: '8kb', FILES_MAX_OWNER_SIZE: '20kb' } });
  });
  afterAll(() => stack.close());
  beforeEach(async () => {
    stack.fake.reset();
    token = stack.fake.createAccessToken({ plan: 'plus' });
  });

  const upload = (key: string, content: Buffer | string, fields: Record<string, string> = { purpose: 'user_data' }, name = 'notes.txt') => {
    let call = request(stack.url).post('/v1/files').set('authorization', `Bearer ${key}`);
    for (const [field, value] of Object.entries(fields)) call = call.field(field, value);
    return call.attach('file', Buffer.from(content), name);
  };
  const as = (key: string) => ({
    get: (path: string) => request(stack.url).get(path).set('authorization', `Bearer ${key}`),
    delete: (path: string) => request(stack.url).delete(path).set('authorization', `Bearer ${key}`),
  });
  /** The upstream's copy of every file attached to the first conversation request's last message. */
  const attachedUpstream = () => {
    const sent = stack.fake.conversationRequests()[0].body as { messages: SentMessage[] };
    const attachments = sent.messages.at(-1)!.metadata?.attachments ?? [];
    return attachments.map((attachment) => ({ ...attachment, upstream: stack.fake.uploadedFile(attachment.id) }));
  };

  it('takes, lists, retrieves, serves and deletes files through the official openai package', async () => {
    const client = stack.openai(token);
    const created = await client.files.create({ file: await toFile(Buffer.from('first notes'), 'notes.txt'), purpose: 'user_data' });
    expect(created).toEqual({
      id: expect.stringMatching(/^file-[A-Za-z0-9]{24}$/),
      object: 'file',
      bytes: 11,
      created_at: expect.any(Number),
      filename: 'notes.txt',
      purpose: 'user_data',
      status: 'processed',
      expires_at: null,
      status_details: null,
    });
    expect(Math.abs(created.created_at - Date.now() / 1000)).toBeLessThan(3600);
    const image = await client.files.create({ file: await toFile(PNG, 'dot.png'), purpose: 'vision' });

    const listed: FileObject[] = [];
    for await (const file of client.files.list()) listed.push(file);
    expect(listed.map((file) => file.id).sort()).toEqual([created.id, image.id].sort());
    const visionOnly = await client.files.list({ purpose: 'vision' });
    expect(visionOnly.data.map((file) => file.id)).toEqual([image.id]);

    expect(await client.files.retrieve(created.id)).toEqual(created);
    const content = await client.files.content(created.id);
    expect(Buffer.from(await content.arrayBuffer()).toString()).toBe('first notes');

    expect(await client.files.delete(created.id)).toEqual({ id: created.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await client.files.delete(image.id);
  });

  it('pages the list with limit, order and after, as OpenAI does', async () => {
    const ids: string[] = [];
    for (const text of ['a', 'b', 'c']) ids.push((await upload(token, text).expect(200)).body.id);
    const all = (await as(token).get('/v1/files?order=asc').expect(200)).body as { data: { id: string }[] };
    const inOrder = all.data.map((file) => file.id);
    // In the order of upload, though all three came within one second (created_at has whole seconds).
    expect(inOrder).toEqual(ids);

    const first = await as(token).get('/v1/files?order=asc&limit=2').expect(200);
    expect(first.body).toEqual({
      object: 'list',
      data: [expect.objectContaining({ id: inOrder[0] }), expect.objectContaining({ id: inOrder[1] })],
      first_id: inOrder[0],
      last_id: inOrder[1],
      has_more: true,
    });
    const rest = await as(token).get(`/v1/files?order=asc&limit=2&after=${inOrder[1]}`).expect(200);
    expect(rest.body).toMatchObject({ data: [{ id: inOrder[2] }], has_more: false });
    const newestFirst = await as(token).get('/v1/files').expect(200);
    expect(newestFirst.body.data.map((file: { id: string }) => file.id)).toEqual([...inOrder].reverse());

    for (const limit of ['0', '10001', 'ten', '1.5', '-1']) {
      const badLimit = await as(token).get(`/v1/files?limit=${limit}`).expect(400);
      expect(badLimit.body.error).toMatchObject({ type: 'invalid_request_error', param: 'limit', code: 'invalid_value' });
    }
    expect((await as(token).get('/v1/files?limit=10000').expect(200)).body.data).toHaveLength(3);
    // A cursor naming no file of this key (unknown, deleted, another key's) ends the list.
    const unknown = await as(token)
      .get(`/v1/files?after=file-${'Z'.repeat(24)}`)
      .expect(200);
    expect(unknown.body).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it('refuses a purpose it has no use for with OpenAI’s 400, and an upload without a file or a purpose', async () => {
    const batch = await upload(token, '{}', { purpose: 'batch' }).expect(400);
    expect(batch.body).toEqual({
      error: {
        message: "'batch' is not one of ['assistants', 'vision', 'user_data'] - 'purpose'",
        type: 'invalid_request_error',
        param: 'purpose',
        code: 'invalid_value',
      },
    });
    const noPurpose = await upload(token, 'x', {}).expect(400);
    expect(noPurpose.body.error).toMatchObject({ param: 'purpose', code: 'missing_required_parameter' });
    const noFile = await request(stack.url)
      .post('/v1/files')
      .set('authorization', `Bearer ${token}`)
      .field('purpose', 'assistants')
      .expect(400);
    expect(noFile.body.error).toMatchObject({ param: 'file', code: 'missing_required_parameter' });
    expect((await as(token).get('/v1/files').expect(200)).body.data).toEqual([]);
  });

  it('takes expires_after as OpenAI does, from an hour to 30 days after creation', async () => {
    const expiring = await upload(token, 'x', {
      purpose: 'user_data',
      'expires_after[anchor]': 'created_at',
      'expires_after[seconds]': '3600',
    });
    expect(expiring.status).toBe(200);
    expect(expiring.body.expires_at).toBe(expiring.body.created_at + 3600);
    const tooSoon = await upload(token, 'x', {
      purpose: 'user_data',
      'expires_after[anchor]': 'created_at',
      'expires_after[seconds]': '60',
    });
    expect(tooSoon.status).toBe(400);
    expect(tooSoon.body.error).toMatchObject({ param: 'expires_after.seconds', code: 'invalid_value' });
  });

  it('refuses a file over FILES_MAX_SIZE, and uploads past FILES_MAX_OWNER_SIZE, with 413 in OpenAI’s shape', async () => {
    const tooLarge = await upload(token, Buffer.alloc(8 * 1024 + 1, 'x')).expect(413);
    expect(tooLarge.body).toEqual({
      error: {
        message: 'The file is larger than 8192 bytes (FILES_MAX_SIZE).',
        type: 'invalid_request_error',
        param: 'file',
        code: 'file_upload_too_large',
      },
    });
    await upload(token, Buffer.alloc(8 * 1024, 'x')).expect(200);
    await upload(token, Buffer.alloc(8 * 1024, 'y')).expect(200);
    const overQuota = await upload(token, Buffer.alloc(5 * 1024, 'z')).expect(413);
    expect(overQuota.body.error).toMatchObject({ type: 'invalid_request_error', param: 'file', code: 'files_quota_exceeded' });
    // Another key has its own allowance.
    await upload(stack.fake.createAccessToken(), Buffer.alloc(5 * 1024, 'z')).expect(200);
  });

  it('answers a malformed multipart body with a 400 in OpenAI’s shape, as the other upload routes do', async () => {
    const part = (name: string, filename?: string) =>
      `--x\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\nabc\r\n`;
    for (const [type, body, said, param, code] of [
      ['multipart/form-data; boundary=x', `${part('purpose')}`.slice(0, -2), 'unexpected end of form', null, 'invalid_multipart'],
      ['multipart/form-data', 'garbage', 'boundary not found', null, 'invalid_multipart'],
      [
        'multipart/form-data; boundary=x',
        `${part('document', 'a.txt')}--x--\r\n`,
        'a file where none is expected',
        'document',
        'invalid_value',
      ],
      [
        'multipart/form-data; boundary=x',
        `${part('file', 'a.txt')}${part('file', 'b.txt')}--x--\r\n`,
        'more files than the request takes',
        null,
        'invalid_multipart',
      ],
    ]) {
      const refused = await request(stack.url)
        .post('/v1/files')
        .set('authorization', `Bearer ${token}`)
        .set('content-type', type!)
        .send(body!);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toEqual({ message: expect.stringContaining(said!), type: 'invalid_request_error', param, code });
    }
  });

  it('bounds the whole upload body, not only the file: text fields past FILES_MAX_SIZE and MAX_SMALL_BODY_SIZE are a 413, also without a Content-Length', async () => {
    const field = (index: number) => `--x\r\nContent-Disposition: form-data; name="note${index}"\r\n\r\n${'n'.repeat(200 * 1024)}\r\n`;
    const answer = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const sent = httpRequest(`${stack.url}/v1/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=x', 'transfer-encoding': 'chunked' },
      });
      sent.on('response', (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode, body }));
      });
      sent.on('error', reject);
      for (let index = 0; index < 8; index++) sent.write(field(index));
      sent.end('--x--\r\n');
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      error: {
        message: 'The file is larger than 8192 bytes (FILES_MAX_SIZE).',
        type: 'invalid_request_error',
        param: 'file',
        code: 'file_upload_too_large',
      },
    });
  });

  it('answers an upload sent as another content type with a 415 that asks for a multipart form', async () => {
    const refused = await request(stack.url)
      .post('/v1/files')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'text/plain')
      .send('purpose=user_data');
    expect(refused.status).toBe(415);
    expect(refused.body.error).toEqual({
      message: "The request body must be multipart/form-data, sent with that 'Content-Type'.",
      type: 'invalid_request_error',
      param: null,
      code: 'unsupported_media_type',
    });
  });

  it('asks for an API key before it reads an upload', async () => {
    const anonymous = await request(stack.url).post('/v1/files').field('purpose', 'user_data').attach('file', Buffer.from('x'), 'a.txt');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toMatchObject({ code: 'invalid_api_key' });
  });

  it('stores nothing for a key the upstream does not know: a revoked AccessToken or RefreshToken is refused before the body is read', async () => {
    const revoked = stack.fake.createAccessToken();
    stack.fake.revokeAccessToken(revoked);
    const refusedToken = await upload(revoked, 'forged').expect(401);
    expect(refusedToken.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    const refresh = stack.fake.createRefreshToken();
    stack.fake.revokeRefreshToken(refresh);
    const refusedRefresh = await upload(refresh, 'forged').expect(401);
    expect(refusedRefresh.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    // A key the upstream knows uploads as before; a RefreshToken's files are its own.
    const known = stack.fake.createRefreshToken();
    const id = (await upload(known, 'kept').expect(200)).body.id as string;
    await as(known).get(`/v1/files/${id}`).expect(200);
  });

  it('shows a file only to the API key that uploaded it: another AccessToken and the pool key find nothing', async () => {
    const id = (await upload(token, 'mine').expect(200)).body.id as string;
    for (const other of [stack.fake.createAccessToken(), POOL_KEY]) {
      const missing = await as(other).get(`/v1/files/${id}`).expect(404);
      expect(missing.body).toEqual({
        error: { message: `No such File object: ${id}`, type: 'invalid_request_error', param: 'id', code: 'uploaded_file_not_found' },
      });
      await as(other).get(`/v1/files/${id}/content`).expect(404);
      await as(other).delete(`/v1/files/${id}`).expect(404);
      expect((await as(other).get('/v1/files').expect(200)).body.data).toEqual([]);
    }
    const poolFile = (await upload(POOL_KEY, 'pool notes').expect(200)).body.id as string;
    await as(token).get(`/v1/files/${poolFile}`).expect(404);
    await as(POOL_KEY).get(`/v1/files/${poolFile}`).expect(200);
    await as(token).get(`/v1/files/${id}/content`).expect(200);
    // An id is only ever the server's own shape: none other is joined to a path (an encoded slash is refused at the edge).
    const dotted = await as(token).get(`/v1/files/..%2E..%2Eaccounts.json/content`).expect(404);
    expect(dotted.body.error.code).toBe('uploaded_file_not_found');
    const slashed = await as(token).get(`/v1/files/..%2F..%2Faccounts.json/content`);
    expect(slashed.status).toBe(400);
    expect(slashed.body.error.type).toBe('invalid_request_error');
  });

  it('serves the content as a download that never runs as a page', async () => {
    const id = (await upload(token, '<script>alert(1)</script>', { purpose: 'user_data' }, 'page.html').expect(200)).body.id as string;
    const served = await as(token).get(`/v1/files/${id}/content`).expect(200);
    expect(served.headers['content-type']).toBe('application/octet-stream');
    expect(served.headers['content-disposition']).toBe("attachment; filename*=UTF-8''page.html");
    expect(served.headers['x-content-type-options']).toBe('nosniff');
    expect(served.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    const svg = (
      await upload(token, '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', { purpose: 'vision' }, 'x.svg').expect(200)
    ).body.id as string;
    const image = await as(token).get(`/v1/files/${svg}/content`).expect(200);
    expect(image.headers['content-type']).toBe('application/octet-stream');
    expect(image.headers['content-disposition']).toBe("attachment; filename*=UTF-8''x.svg");

    // A name with a quote and a line break stays one header parameter: nothing of it can start another header.
    const broken = (await upload(token, 'x', { purpose: 'user_data' }, 'a"b\r\nSet-Cookie: c=d.txt').expect(200)).body as { id: string };
    const safe = await as(token).get(`/v1/files/${broken.id}/content`).expect(200);
    expect(safe.headers['content-disposition']).toBe("attachment; filename*=UTF-8''a%22b%0D%0ASet-Cookie%3A%20c%3Dd.txt");
    expect(safe.headers['set-cookie']).toBeUndefined();

    const named = (await upload(token, 'x', { purpose: 'user_data' }, "Überblick (Sam's).txt").expect(200)).body as {
      id: string;
      filename: string;
    };
    expect(named.filename).toBe("Überblick (Sam's).txt");
    const download = await as(token).get(`/v1/files/${named.id}/content`).expect(200);
    expect(download.headers['content-disposition']).toBe("attachment; filename*=UTF-8''%C3%9Cberblick%20%28Sam%27s%29.txt");
  });

  describe('file_id in a conversation', () => {
    it('attaches an uploaded file to a chat completion: its bytes reach the upstream as the message’s attachment', async () => {
      const id = (await upload(token, 'The code word is heron.', { purpose: 'user_data' }, 'brief.txt').expect(200)).body.id as string;
      const answer = await stack.openai(token).chat.completions.create({
        model: 'gpt-4o',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is the code word?' },
              { type: 'file', file: { file_id: id } },
            ],
          },
        ],
      });
      expect(answer.choices[0].message.content).toEqual(expect.any(String));
      const [attached] = attachedUpstream();
      expect(attached).toMatchObject({ name: 'brief.txt', mime_type: 'text/plain' });
      expect(attached.upstream?.bytes.toString()).toBe('The code word is heron.');
    });

    it('refuses another key’s file, or an unknown id, before any upstream call', async () => {
      const id = (await upload(token, 'private').expect(200)).body.id as string;
      const other = stack.fake.createAccessToken();
      // The upload asked the upstream about its key; the chats below ask nothing.
      const before = stack.fake.requests.length;
      for (const [key, fileId] of [
        [other, id],
        [token, 'file-doesnotexist'],
      ]) {
        const refused = await request(stack.url)
          .post('/v1/chat/completions')
          .set('authorization', `Bearer ${key}`)
          .send({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: fileId } }] }] })
          .expect(400);
        expect(refused.body.error).toMatchObject({
          type: 'invalid_request_error',
          code: 'invalid_value',
          param: 'messages[0].content[0].file.file_id',
        });
      }
      expect(stack.fake.requests.slice(before)).toEqual([]);
    });

    it('attaches input_file and input_image by file_id in the Responses API', async () => {
      const client = stack.openai(token);
      const notes = await client.files.create({ file: await toFile(Buffer.from('%PDF-1.4 notes'), 'notes.pdf'), purpose: 'user_data' });
      const image = await client.files.create({ file: await toFile(PNG, 'dot.png'), purpose: 'vision' });
      const response = await client.responses.create({
        model: 'gpt-4o',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Describe both.' },
              { type: 'input_file', file_id: notes.id },
              { type: 'input_image', file_id: image.id, detail: 'auto' },
            ],
          },
        ],
      });
      expect(response.status).toBe('completed');
      const attached = attachedUpstream();
      expect(attached.map((file) => [file.name, file.mime_type])).toEqual([
        ['notes.pdf', 'application/pdf'],
        ['dot.png', 'image/png'],
      ]);
      expect(attached[0].upstream?.bytes.toString()).toBe('%PDF-1.4 notes');
      expect(attached[1].upstream?.bytes.equals(PNG)).toBe(true);
      const sent = stack.fake.conversationRequests()[0].body as { messages: SentMessage[] };
      expect(sent.messages.at(-1)!.content.parts).toContainEqual(
        expect.objectContaining({ content_type: 'image_asset_pointer', width: 4, height: 3 }),
      );
    });
  });

  it('keeps uploads across a restart', async () => {
    const id = (await upload(token, 'durable').expect(200)).body.id as string;
    await stack.stopApp();
    await stack.restartApp();
    const served = await as(token).get(`/v1/files/${id}/content`).expect(200);
    expect(served.body.toString()).toBe('durable');
  });
});

/** A pool key's uploads, read by the pool account a chat runs on. */
describe('Files API with a pool key', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { AUTHORIZATION: POOL_KEY, AUTO_SEED: 'false' } });
    await poolServicesOf(stack.app).admin.upload([stack.fake.createAccessToken()]);
  });
  afterAll(() => stack.close());

  it('attaches a file the pool key uploaded', async () => {
    const client = stack.openai(POOL_KEY);
    const file = await client.files.create({ file: await toFile(Buffer.from('pool brief'), 'pool.txt'), purpose: 'assistants' });
    await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Read.' },
            { type: 'file', file: { file_id: file.id } },
          ],
        },
      ],
    });
    const sent = stack.fake.conversationRequests()[0].body as { messages: SentMessage[] };
    const attachment = sent.messages.at(-1)!.metadata!.attachments![0];
    expect(stack.fake.uploadedFile(attachment.id)?.bytes.toString()).toBe('pool brief');
  });

  it('uploads the file again as the next pool account when an attempt moves on to it', async () => {
    const pool = poolServicesOf(stack.app);
    await pool.admin.clear();
    const accounts = [stack.fake.createAccessToken(), stack.fake.createAccessToken()];
    await pool.admin.upload(accounts);
    stack.fake.reset();
    const client = stack.openai(POOL_KEY);
    const file = await client.files.create({ file: await toFile(Buffer.from('retried brief'), 'retry.txt'), purpose: 'user_data' });
    stack.fake.enqueue({ kind: 'no_answer' });
    const answer = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: file.id } }] }],
    });
    expect(answer.choices[0].message.content).toBeTruthy();

    const bearerOf = (request: { headers: Record<string, unknown> }) => String(request.headers.authorization).replace(/^Bearer /, '');
    const attempts = stack.fake.conversationRequests();
    expect(new Set(attempts.map(bearerOf))).toEqual(new Set(accounts));
    const creations = stack.fake.requests.filter((sent) => sent.method === 'POST' && sent.path.endsWith('/backend-api/files'));
    expect(new Set(creations.map(bearerOf))).toEqual(new Set(accounts));
    for (const attempt of attempts) {
      const attachment = (attempt.body as { messages: SentMessage[] }).messages.at(-1)!.metadata!.attachments![0];
      expect(stack.fake.uploadedFile(attachment.id)?.bytes.toString()).toBe('retried brief');
    }
    const ids = attempts.map((attempt) => (attempt.body as { messages: SentMessage[] }).messages.at(-1)!.metadata!.attachments![0].id);
    expect(new Set(ids).size).toBe(2);
  });
});
