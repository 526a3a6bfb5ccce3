import { get as httpGet, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { brotliCompressSync, brotliDecompressSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { solidPng } from './fake-upstream/png';
import { APP_SCRIPT, FETCHER_NETWORK } from './fake-upstream/web-app';
import { requirementsToken } from '../src/pow/pow-solver';
import { AccountIdentifiers } from '../src/gateway/seed/account-identifiers.service';
import { GatewayStack, RecordingHost, recordingHost, startGateway, conversationBody } from './support/gateway-stack';

jest.setTimeout(120_000);

const PUBLIC_URL = 'https://gw.example.test';

interface Account {
  accessToken: string;
  email: string;
  userId: string;
}

function newAccount(fake: FakeUpstream, name: string): Account {
  const email = `${name}@example.com`;
  const userId = `user-${name.padEnd(24, 'x')}`;
  return { accessToken: fake.createAccessToken({ email, userId }), email, userId };
}

describe('browser gateway: reverse proxy', () => {
  let gw: GatewayStack;
  let cdn: RecordingHost;
  let files: RecordingHost;
  let statsig: RecordingHost;
  let gravatar: RecordingHost;
  let sandbox: RecordingHost;
  let persistent: RecordingHost;
  let owner: Account;
  let ownerSession: ReturnType<GatewayStack['signIn']>;
  let bearer: Record<string, string>;

  beforeAll(async () => {
    [cdn, files, statsig, gravatar, sandbox, persistent] = await Promise.all([
      recordingHost(),
      recordingHost(),
      recordingHost(),
      recordingHost(),
      recordingHost(),
      recordingHost(),
    ]);
    gw = await startGateway({
      env: {
        PUBLIC_URL,
        CDN_BASE_URL: cdn.url,
        FILES_BASE_URL: files.url,
        STATSIG_BASE_URL: statsig.url,
        GRAVATAR_BASE_URL: gravatar.url,
        SANDBOX_BASE_URL: sandbox.url,
        PERSISTENT_BASE_URL: persistent.url,
        VOICE_HOST: 'voice.gw.example.test:8443',
      },
    });
    owner = newAccount(gw.fake, 'owner');
    ownerSession = gw.signIn('owner', owner);
    bearer = { authorization: `Bearer ${ownerSession.standIn}` };
  });
  afterAll(async () => {
    await gw.close();
    await Promise.all([cdn, files, statsig, gravatar, sandbox, persistent].map((host) => host.close()));
  });
  const lastFake = () => gw.fake.requests[gw.fake.requests.length - 1];

  describe('routing by path prefix, one host each', () => {
    it('sends /backend-api to the backend with the account token, and the other prefixes to their own hosts without it', async () => {
      const me = await request(gw.url).get('/backend-api/me').set(bearer);
      expect(me.status).toBe(200);
      expect(me.body.email).toBe(owner.email);
      expect(lastFake().headers.authorization).toBe(`Bearer ${owner.accessToken}`);

      await request(gw.url).get('/assets/root-1234.css').set(bearer).set('cookie', ownerSession.cookie);
      await request(gw.url).get('/file-abc123?se=1&sig=zz').set(bearer);
      await request(gw.url).get('/avatar/0123abcd?s=100').set(bearer);
      await request(gw.url).get('/sandbox/index.html').set(bearer);
      statsig.answer = () => ({
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: { ip: '203.0.113.9', country: 'DE', nested: { ip: '203.0.113.9' } } }),
      });
      const flags = await request(gw.url)
        .post('/ab/v1/initialize?k=client-x')
        .set(bearer)
        .send({ user: { userID: 'u' } });

      expect(cdn.requests.map((r) => r.url)).toEqual(['/assets/root-1234.css']);
      expect(files.requests.map((r) => r.url)).toEqual(['/file-abc123?se=1&sig=zz']);
      expect(gravatar.requests.map((r) => r.url)).toEqual(['/avatar/0123abcd?s=100']);
      expect(sandbox.requests.map((r) => r.url)).toEqual(['/index.html']);
      expect(statsig.requests.map((r) => r.url)).toEqual(['/v1/initialize?k=client-x']);
      // The IP and country the flags service saw are not shown to the page.
      expect(flags.body).toEqual({ user: { ip: '8.8.8.8', country: 'US', nested: { ip: '8.8.8.8' } } });
      for (const host of [cdn, files, gravatar, sandbox, statsig]) {
        for (const seen of host.requests) {
          expect(seen.headers.authorization).toBeUndefined();
          expect(seen.headers.cookie).toBeUndefined();
          expect(JSON.stringify(seen.headers)).not.toContain(owner.accessToken);
          expect(JSON.stringify(seen.headers)).not.toContain(ownerSession.standIn);
        }
      }
    });

    it('never lets an avatar default image become a redirect to another site through our origin', async () => {
      gravatar.requests.length = 0;
      const answer = gravatar.answer;
      gravatar.answer = (incoming): ReturnType<RecordingHost['answer']> => {
        const fallback = new URL(incoming.url, 'http://x').searchParams.get('d') ?? '';
        return /^https?:/.test(fallback)
          ? { status: 302, headers: { location: fallback } }
          : { headers: { 'content-type': 'image/png' }, body: 'png' };
      };
      try {
        const picture = await request(gw.url).get('/avatar/0123abcd?s=480&d=https%3A%2F%2Fevil.example%2Fphish&r=pg');
        expect(picture.status).toBe(200);
        expect(picture.headers.location).toBeUndefined();
        expect(gravatar.requests.map((r) => r.url)).toEqual(['/avatar/0123abcd?s=480&d=identicon&r=pg']);
        // A keyword default is Gravatar's own and passes as it is.
        await request(gw.url).get('/avatar/0123abcd?d=retro').expect(200);
        expect(gravatar.requests[1].url).toBe('/avatar/0123abcd?d=retro');
      } finally {
        gravatar.answer = answer;
      }
    });

    it('sends /voice/previews/ to the persistent host, path kept, without credentials; other /voice paths stay on the backend', async () => {
      persistent.answer = () => ({ headers: { 'content-type': 'audio/mpeg' }, body: 'ID3-preview' });
      const preview = await request(gw.url)
        .get('/voice/previews/ember.mp3?v=2')
        .set(bearer)
        .set('cookie', ownerSession.cookie)
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect(preview.status).toBe(200);
      expect(preview.headers['content-type']).toBe('audio/mpeg');
      expect((preview.body as Buffer).toString()).toBe('ID3-preview');
      expect(persistent.requests.map((r) => r.url)).toEqual(['/voice/previews/ember.mp3?v=2']);
      for (const seen of persistent.requests) {
        expect(seen.headers.authorization).toBeUndefined();
        expect(seen.headers.cookie).toBeUndefined();
        expect(JSON.stringify(seen.headers)).not.toContain(owner.accessToken);
      }
      // Only the exact prefix: a path that merely mentions voice previews is not sent there (gateway.md §5.3 S5).
      await request(gw.url).get('/backend-api/settings/voice/previews/x').set(bearer);
      expect(persistent.requests).toHaveLength(1);
    });

    it('serves user files and sandbox output so that they cannot run as our origin', async () => {
      files.answer = () => ({
        headers: { 'content-type': 'text/html', 'content-disposition': 'attachment; filename="x.html"' },
        body: '<script>alert(1)</script>',
      });
      const file = await request(gw.url).get('/file-html');
      expect(file.headers['content-security-policy']).toBe('sandbox');
      expect(file.headers['content-disposition']).toMatch(/^attachment/);
      expect(file.headers['x-content-type-options']).toBe('nosniff');
      // Embedded by the chat page, perhaps from another origin (FILE_HOST).
      expect(file.headers['cross-origin-resource-policy']).toBe('cross-origin');

      // Sandbox output runs its scripts as an opaque origin, in a frame of the chat page (PUBLIC_URL) only.
      sandbox.answer = () => ({ headers: { 'content-type': 'text/html', 'x-frame-options': 'DENY' }, body: '<p>out</p>' });
      const output = await request(gw.url).get('/sandbox/index.html');
      expect(output.headers['content-security-policy']).toBe(
        `sandbox allow-scripts allow-forms allow-modals allow-popups allow-downloads; frame-ancestors 'self' ${PUBLIC_URL}`,
      );
      expect(output.headers['x-frame-options']).toBeUndefined();
      expect(output.headers['cross-origin-resource-policy']).toBe('cross-origin');

      // Our own answers are framed by nobody and read by no other origin.
      const me = await request(gw.url).get('/backend-api/me').set(bearer);
      expect(me.headers['x-frame-options']).toBe('DENY');
      expect(me.headers['cross-origin-resource-policy']).toBe('same-origin');
    });

    it('routes /cdn/assets to the backend host, and /backend-anon with a session as the account', async () => {
      const script = await request(gw.url).get(`/cdn/assets/${APP_SCRIPT}`);
      expect(script.status).toBe(200);
      expect(script.text).toContain('sha3_512');
      expect(lastFake().headers.authorization).toBeUndefined();

      const models = await request(gw.url).get('/backend-anon/models').set(bearer);
      expect(models.status).toBe(200);
      expect(lastFake().path).toBe('/backend-api/models');
      expect(lastFake().headers.authorization).toBe(`Bearer ${owner.accessToken}`);
    });
  });

  describe('request headers', () => {
    it("sends an anonymous visitor's own device id on the anonymous channel, never the account's; a signed-in one gets the account's", async () => {
      const visitors = ['0f8fad5b-d9cb-469f-a165-70867728950e', '7c9e6679-7425-40de-944b-e07fc1f90ae7'];
      const seen: Array<Record<string, unknown>> = [];
      for (const device of visitors) {
        await request(gw.url).get('/backend-anon/models').set('oai-device-id', device).set('origin', PUBLIC_URL);
        expect(lastFake().path).toBe('/backend-anon/models');
        seen.push(lastFake().headers);
      }
      expect(seen.map((headers) => headers['oai-device-id'])).toEqual(visitors);
      for (const headers of seen) {
        expect(headers.origin).toBe(gw.fake.url);
        expect(headers.referer).toBe(`${gw.fake.url}/`);
        expect(headers.authorization).toBeUndefined();
      }
      // A browser that sends none still looks like a device.
      await request(gw.url).get('/backend-anon/models');
      expect(lastFake().headers['oai-device-id']).toMatch(/^[0-9a-f-]{36}$/);

      await request(gw.url).get('/backend-anon/models').set(bearer).set('oai-device-id', visitors[0]);
      expect(lastFake().path).toBe('/backend-api/models');
      expect(lastFake().headers['oai-device-id']).not.toBe(visitors[0]);
    });

    it('drops client cookies and hop-by-hop headers, swaps the stand-in for the token, and uses the account fingerprint', async () => {
      const response = await request(gw.url)
        .get('/backend-api/accounts/check/v4-2023-04-27')
        .set(bearer)
        .set('cookie', `${ownerSession.cookie}; oai-flow-token=leak; prefix=leak`)
        .set('connection', 'keep-alive, x-secret-hop')
        .set('x-secret-hop', 'hop')
        .set('proxy-authorization', 'Basic leak')
        .set('te', 'trailers')
        .set('user-agent', 'curl/8.0')
        .set('oai-device-id', 'browser-device')
        .set('chatgpt-account-id', 'someone-elses-workspace')
        .set('oai-language', 'de-DE');
      expect(response.status).toBe(200);
      const seen = lastFake().headers;
      expect(seen.authorization).toBe(`Bearer ${owner.accessToken}`);
      expect(seen.cookie).toBeUndefined();
      expect(seen['x-secret-hop']).toBeUndefined();
      expect(seen['proxy-authorization']).toBeUndefined();
      expect(seen.te).toBeUndefined();
      expect(seen['user-agent']).not.toBe('curl/8.0');
      expect(seen['oai-device-id']).not.toBe('browser-device');
      expect(seen['chatgpt-account-id']).toBeUndefined();
      expect(seen['oai-language']).toBe('de-DE');
      // The same account always looks like the same browser.
      await request(gw.url).get('/backend-api/me').set(bearer);
      expect(lastFake().headers['user-agent']).toBe(seen['user-agent']);
      expect(lastFake().headers['oai-device-id']).toBe(seen['oai-device-id']);
      // Upstream cookies stay upstream.
      expect(response.headers['set-cookie']).toBeUndefined();
      // The debug sidebar is switched on through the features the UI reads, without touching the plan.
      const accounts = Object.values(response.body.accounts as Record<string, { features: string[]; account: { plan_type: string } }>);
      expect(accounts[0].features).toContain('debug');
      expect(accounts[0].account.plan_type).toBe('plus');
    });

    it("gives the upstream back the cookies it set on the account's calls, never the browser's, and never to the browser", async () => {
      const requirements = await request(gw.url)
        .post('/backend-api/sentinel/chat-requirements')
        .set(bearer)
        .send({ p: requirementsToken('Mozilla/5.0') });
      expect(requirements.status).toBe(200);
      expect(requirements.headers['set-cookie']).toBeUndefined();
      const set = (lastFake().setCookie ?? []).map((line) => line.split(';')[0]);
      expect(set.map((pair) => pair.split('=')[0])).toEqual(['__cf_bm', 'oai-sc']);

      await request(gw.url).get('/backend-api/me').set(bearer).set('cookie', `${ownerSession.cookie}; oai-sc=the-browsers-own`);
      expect(lastFake().headers.cookie).toBe(set.join('; '));
      // An anonymous call is no account's, and the other hosts get no cookie at all.
      await request(gw.url).get('/backend-anon/models');
      expect(lastFake().headers.cookie).toBeUndefined();
      await request(gw.url).get('/assets/after-cookies.js').set(bearer);
      expect(cdn.requests.at(-1)!.headers.cookie).toBeUndefined();
    });

    it('answers 401 on /backend-api without a valid session, and never asks upstream', async () => {
      const before = gw.fake.requests.length;
      const none = await request(gw.url).get('/backend-api/me');
      expect(none.status).toBe(401);
      expect(none.body.error).toMatchObject({ type: 'authentication_error', code: 'session_required' });
      const wrong = await request(gw.url).get('/backend-api/me').set('authorization', `Bearer ${owner.accessToken}`);
      expect(wrong.status).toBe(401);
      // A cookie alone is not enough to write: a cross-site form could send it.
      const post = await request(gw.url).post('/backend-api/conversation').set('cookie', ownerSession.cookie).send(conversationBody('hi'));
      expect(post.status).toBe(401);
      expect(gw.fake.requests.length).toBe(before);
    });

    it('passes unknown /backend-api paths through for a full user', async () => {
      const response = await request(gw.url).get('/backend-api/checkout_pricing_config/configs/US').set(bearer);
      expect(lastFake().path).toBe('/backend-api/checkout_pricing_config/configs/US');
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ detail: 'Not Found' });
    });

    it('streams a request body upstream as it is', async () => {
      const body = JSON.stringify({ title: 'Renamed' });
      gw.fake.webApp.place('/backend-api/echo-body', { contentType: 'application/json', body: '{}' });
      await request(gw.url).patch('/backend-api/echo-body').set(bearer).set('content-type', 'application/json').send(body);
      expect(lastFake().method).toBe('PATCH');
      expect(lastFake().body).toEqual({ title: 'Renamed' });
    });
    it('answers 413 to a chunked upload over MAX_BODY_SIZE, not a 502 naming the files host', async () => {
      const limited = await startGateway({ env: { FILES_BASE_URL: files.url, MAX_BODY_SIZE: '64kb' } });
      try {
        const answer = await new Promise<{ status: number; connection?: string; body: string }>((resolve, reject) => {
          const upload = httpRequest(`${limited.url}/file-upload1?sig=x`, {
            method: 'PUT',
            headers: { 'content-type': 'application/octet-stream', 'x-ms-blob-type': 'BlockBlob', 'transfer-encoding': 'chunked' },
          });
          upload.on('response', (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }));
          });
          upload.on('error', reject);
          for (let i = 0; i < 8; i++) upload.write(Buffer.alloc(16 * 1024, 1)); // 128 KiB, no Content-Length
          upload.end();
        });
        expect(answer.status).toBe(413);
        expect(JSON.parse(answer.body).error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
        // The rest of the upload is not read: a connection kept open would hang on it.
        expect(answer.connection).toBe('close');
      } finally {
        await limited.close();
      }
    });
  });

  describe('body and header rewriting', () => {
    it('rewrites upstream hosts in JSON and replaces the real token with the stand-in', async () => {
      gw.fake.webApp.place('/backend-api/some-settings', {
        contentType: 'application/json',
        body: JSON.stringify({
          token: owner.accessToken,
          nested: `prefix ${owner.accessToken} suffix`,
          script: 'https://cdn.oaistatic.com/assets/a.js',
          api: `${gw.fake.url}/backend-api/x`,
          picture: 'https://s.gravatar.com/avatar/abc?s=480',
          upload: 'https://files.oaiusercontent.com/file-1?sig=a',
          rum: 'https://browser-intake-datadoghq.com/api/v2/rum',
          oauth: 'https://chatgpt.com/aip/p/callback',
          preview: 'https://persistent.oaistatic.com/voice/previews/ember.mp3',
          previewConfigured: `${persistent.url}/voice/previews/cove.mp3`,
          realtime: 'wss://webrtc.chatgpt.com/v1/realtime',
        }),
      });
      const response = await request(gw.url).get('/backend-api/some-settings').set(bearer);
      expect(response.text).not.toContain(owner.accessToken);
      expect(response.body).toEqual({
        token: ownerSession.standIn,
        nested: `prefix ${ownerSession.standIn} suffix`,
        script: `${PUBLIC_URL}/assets/a.js`,
        api: `${PUBLIC_URL}/backend-api/x`,
        picture: `${PUBLIC_URL}/avatar/abc?s=480`,
        upload: `${PUBLIC_URL}/file-1?sig=a`,
        rum: 'https://0.0.0.0/api/v2/rum',
        oauth: 'https://chatgpt.com/aip/p/callback',
        preview: `${PUBLIC_URL}/voice/previews/ember.mp3`,
        previewConfigured: `${PUBLIC_URL}/voice/previews/cove.mp3`,
        realtime: 'wss://voice.gw.example.test:8443/v1/realtime',
      });
      expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.text));
      expect(response.headers['cache-control']).toBe('private, no-store');
    });

    it('replaces the token in scripts and pages too, and rewrites Location', async () => {
      gw.fake.webApp.place('/cdn/assets/boot.js', {
        contentType: 'text/javascript',
        body: `window.t="${owner.accessToken}";import("https://cdn.oaistatic.com/assets/x.js")`,
      });
      const script = await request(gw.url).get('/cdn/assets/boot.js').set(bearer);
      expect(script.text).toBe(`window.t="${ownerSession.standIn}";import("${PUBLIC_URL}/assets/x.js")`);

      gw.fake.webApp.place('/backend-api/files/download/file-1', {
        status: 302,
        contentType: 'text/plain',
        body: '',
        headers: { location: 'https://files.oaiusercontent.com/file-1?sig=b' },
      });
      const redirect = await request(gw.url).get('/backend-api/files/download/file-1').set(bearer).redirects(0);
      expect(redirect.status).toBe(302);
      expect(redirect.headers.location).toBe(`${PUBLIC_URL}/file-1?sig=b`);
    });

    it('keeps the upstream cache headers of an asset rewritten with PUBLIC_URL, and keeps one written with the request Host from shared caches', async () => {
      const asset = { contentType: 'text/javascript', body: 'import("https://cdn.oaistatic.com/assets/y.js")' };
      gw.fake.webApp.place('/cdn/assets/cached.js', { ...asset, headers: { 'cache-control': 'public, max-age=31536000, immutable' } });
      const configured = await request(gw.url).get('/cdn/assets/cached.js');
      expect(configured.text).toBe(`import("${PUBLIC_URL}/assets/y.js")`);
      expect(configured.headers['cache-control']).toBe('public, max-age=31536000, immutable');

      const byHost = await startGateway({ env: { PUBLIC_URL: '' } });
      try {
        byHost.fake.webApp.place('/cdn/assets/cached.js', {
          ...asset,
          headers: { 'cache-control': 'public, max-age=31536000, immutable' },
        });
        const answer = await request(byHost.url).get('/cdn/assets/cached.js').set('host', 'evil.example');
        expect(answer.text).toBe('import("http://evil.example/assets/y.js")');
        expect(answer.headers['cache-control']).toBe('private, max-age=31536000, immutable');
        expect(String(answer.headers.vary).split(', ')).toEqual(expect.arrayContaining(['Host', 'X-Forwarded-Host', 'X-Forwarded-Proto']));
      } finally {
        await byHost.close();
      }
    });

    it("asks the upstream a HEAD for a HEAD and answers with its headers and no body, the upstream's length kept", async () => {
      const picture = solidPng(4, 4);
      const pictureHeaders = { 'content-type': 'image/png', 'cache-control': 'public, max-age=60', etag: '"picture-etag"' };
      gw.fake.webApp.place('/backend-api/estuary/head.png', { contentType: 'image/png', body: picture, headers: pictureHeaders });
      gw.fake.webApp.place('/backend-anon/head.png', { contentType: 'image/png', body: picture, headers: pictureHeaders });
      const cdnAnswer = cdn.answer;
      cdn.answer = () => ({ headers: { ...pictureHeaders, 'content-length': String(picture.length) }, body: picture });
      try {
        for (const [path, headers] of [
          ['/assets/head.png', bearer],
          ['/backend-api/estuary/head.png', bearer],
          ['/backend-anon/head.png', {}],
        ] as const) {
          const head = await request(gw.url).head(path).set(headers);
          const seen = path.startsWith('/assets/') ? cdn.requests.at(-1) : lastFake();
          expect([path, seen?.method, head.status]).toEqual([path, 'HEAD', 200]);
          expect([path, head.headers['content-length']]).toEqual([path, String(picture.length)]);
          for (const [name, value] of Object.entries(pictureHeaders)) expect([path, head.headers[name]]).toEqual([path, value]);
        }
      } finally {
        cdn.answer = cdnAnswer;
      }
    });

    it('answers a HEAD for a body the GET rewrites without the length, encoding and ETag only the rewritten body has', async () => {
      gw.fake.webApp.place('/cdn/assets/h.js', {
        contentType: 'application/javascript',
        body: `var t="${owner.accessToken}";import("https://cdn.oaistatic.com/assets/x.js")`,
        headers: { 'cache-control': 'public, max-age=60', etag: '"upstream-etag"' },
      });
      const head = await request(gw.url).head('/cdn/assets/h.js').set(bearer).set('accept-encoding', 'gzip, br');
      expect(lastFake().method).toBe('HEAD');
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toBe('application/javascript');
      for (const name of ['content-length', 'content-encoding', 'etag']) expect([name, head.headers[name]]).toEqual([name, undefined]);
    });

    it('leaves conversation content alone except for the token', async () => {
      gw.fake.webApp.place('/backend-api/conversation/c-1', {
        contentType: 'application/json',
        body: JSON.stringify({ text: 'see https://cdn.oaistatic.com/assets/a.js', token: owner.accessToken }),
      });
      const response = await request(gw.url).get('/backend-api/conversation/c-1').set(bearer);
      expect(response.body).toEqual({ text: 'see https://cdn.oaistatic.com/assets/a.js', token: ownerSession.standIn });
    });

    it("leads a conversation's download links (code interpreter, attachments) through us, and leaves the rest of the answer alone", async () => {
      const answer = (file: string) =>
        JSON.stringify({
          status: 'success',
          download_url: `https://files.oaiusercontent.com/${file}?se=1&sig=z`,
          file_name: 'see https://cdn.oaistatic.com/x',
        });
      gw.fake.webApp.place('/backend-api/conversation/c-9/interpreter/download', {
        contentType: 'application/json',
        body: answer('file-abc'),
      });
      gw.fake.webApp.place('/backend-api/conversation/c-9/attachment/file-def/download', {
        contentType: 'application/json',
        body: answer('file-def'),
      });
      const interpreter = await request(gw.url)
        .get('/backend-api/conversation/c-9/interpreter/download?message_id=m&sandbox_path=/mnt/data/a.csv')
        .set(bearer);
      expect(interpreter.body).toEqual({
        status: 'success',
        download_url: `${PUBLIC_URL}/file-abc?se=1&sig=z`,
        file_name: 'see https://cdn.oaistatic.com/x',
      });
      const attachment = await request(gw.url).get('/backend-api/conversation/c-9/attachment/file-def/download').set(bearer);
      expect(attachment.body.download_url).toBe(`${PUBLIC_URL}/file-def?se=1&sig=z`);
    });
  });

  describe('compressed bodies', () => {
    it.each(['br', 'gzip', 'deflate'] as const)(
      'decodes a %s body, rewrites it and sends it with the right length and no encoding',
      async (encoding) => {
        const text = `var token="${owner.accessToken}";var cdn="https://cdn.oaistatic.com/assets/y.js";`;
        gw.fake.webApp.place(`/cdn/assets/packed-${encoding}.js`, { contentType: 'application/javascript', body: text, encoding });
        const response = await request(gw.url)
          .get(`/cdn/assets/packed-${encoding}.js`)
          .set(bearer)
          .set('accept-encoding', 'gzip, deflate, br');
        expect(response.status).toBe(200);
        expect(response.headers['content-encoding']).toBeUndefined();
        expect(response.text).toBe(`var token="${ownerSession.standIn}";var cdn="${PUBLIC_URL}/assets/y.js";`);
        expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.text));
      },
    );

    it("answers 502 upstream_error to a text body that does not decode as its encoding says, with none of the upstream's headers", async () => {
      const answer = cdn.answer;
      const script = brotliCompressSync(`var cdn="https://cdn.oaistatic.com/assets/y.js";`.repeat(20));
      const bodies = { gzip: Buffer.from('not gzip at all'), br: script.subarray(0, script.length - 8) };
      try {
        for (const [encoding, body] of Object.entries(bodies)) {
          cdn.answer = () => ({
            headers: { 'content-type': 'application/javascript', 'content-encoding': encoding, 'cache-control': 'public, max-age=60' },
            body,
          });
          const broken = await request(gw.url).get(`/assets/broken-${encoding}.js`).set('accept-encoding', 'gzip, br');
          expect(broken.status).toBe(502);
          expect(broken.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_body_undecodable' });
          expect(broken.headers['cache-control']).toBeUndefined();
        }
      } finally {
        cdn.answer = answer;
      }
    });

    it("answers 502 naming the host to a text body the upstream cuts short, with none of the upstream's headers", async () => {
      const answer = cdn.answer;
      cdn.answer = () => ({
        headers: { 'content-type': 'application/javascript', 'cache-control': 'public, max-age=60' },
        body: 'var cdn="https://cdn.oaistatic.com/assets/y.js";',
        cut: true,
      });
      try {
        const cut = await request(gw.url).get('/assets/cut-short.js');
        expect(cut.status).toBe(502);
        expect(cut.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unreachable' });
        expect(cut.body.error.message).toContain('cdn');
        expect(cut.headers['cache-control']).toBeUndefined();
      } finally {
        cdn.answer = answer;
      }
    });

    it('decodes stacked codings, last first', async () => {
      const text = `var token="${owner.accessToken}";`;
      gw.fake.webApp.place('/cdn/assets/stacked.js', {
        contentType: 'application/javascript',
        body: brotliCompressSync(gzipSync(text)),
        headers: { 'content-encoding': 'gzip, br' },
      });
      // An upstream that ignores our Accept-Encoding.
      const stacked = await request(gw.url).get('/cdn/assets/stacked.js').set(bearer).set('accept-encoding', 'identity');
      expect(stacked.text).toBe(`var token="${ownerSession.standIn}";`);
    });

    it('refuses text in a coding it cannot decode rather than pass the account token on', async () => {
      const text = `var token="${owner.accessToken}";`;
      // An upstream that ignores our Accept-Encoding, with a coding Node cannot decode (zstd on Node 20; `compress` anywhere).
      for (const encoding of ['compress', 'gzip, compress', 'zstd']) {
        gw.fake.webApp.place('/cdn/assets/unknown.js', {
          contentType: 'application/javascript',
          body: text,
          headers: { 'content-encoding': encoding },
        });
        const refused = await request(gw.url).get('/cdn/assets/unknown.js').set(bearer).set('accept-encoding', 'identity');
        expect(refused.status).toBe(502);
        expect(refused.body.error.type).toBe('upstream_error');
        expect(refused.text).not.toContain(owner.accessToken);
      }
    });

    it('passes a body it does not rewrite through byte for byte, encoding kept', async () => {
      cdn.answer = () => ({ headers: { 'content-type': 'font/woff2' }, body: Buffer.from([0, 1, 2, 250, 251, 252]) });
      const font = await request(gw.url)
        .get('/assets/font.woff2')
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect(font.body).toEqual(Buffer.from([0, 1, 2, 250, 251, 252]));
      // The browser's own accepted codings are what the upstream may use for what we pass through.
      await request(gw.url).get('/assets/a.js').set('accept-encoding', 'gzip, zstd');
      expect(cdn.requests[cdn.requests.length - 1].headers['accept-encoding']).toBe('gzip');
    });

    it('the fake web app compresses its page as the upstream does, so the page tests see a compressed upstream', async () => {
      const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        httpGet(`${gw.fake.url}/`, { headers: { 'accept-encoding': 'br' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        }).on('error', reject);
      });
      expect(raw.headers['content-encoding']).toBe('br');
      expect(brotliDecompressSync(raw.body).toString('utf8')).toContain('__reactRouterContext');
    });
  });

  describe('streams and ranges', () => {
    it('pipes an event stream: the first event arrives before the upstream ends', async () => {
      const hold = gw.fake.webApp.holdStream('/backend-api/held-stream');
      hold.send('event: delta_encoding\ndata: "v1"\n\n');
      const received: string[] = [];
      let ended = false;
      const firstEvent = new Promise<void>((resolve, reject) => {
        httpGet(`${gw.url}/backend-api/held-stream`, { headers: bearer }, (res) => {
          expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            received.push(chunk);
            resolve();
          });
          res.on('end', () => (ended = true));
        }).on('error', reject);
      });
      await hold.opened;
      await firstEvent;
      expect(received.join('')).toContain('data: "v1"');
      expect(ended).toBe(false);
      hold.send('data: [DONE]\n\n');
      hold.end();
      await new Promise<void>((resolve) => {
        const check = () => (ended ? resolve() : setTimeout(check, 10));
        check();
      });
      expect(received.join('')).toContain('data: [DONE]');
    });

    it('passes range requests through and shows media inline', async () => {
      const png = solidPng(64, 64);
      gw.fake.webApp.place('/backend-api/estuary/content', {
        contentType: 'image/png',
        body: png,
        headers: { 'content-disposition': 'attachment; filename="a.png"' },
      });
      const part = await request(gw.url)
        .get('/backend-api/estuary/content?id=file-1')
        .set(bearer)
        .set('range', 'bytes=0-9')
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect(part.status).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 0-9/${png.length}`);
      expect(part.body).toEqual(png.subarray(0, 10));
      expect(part.headers['content-disposition']).toMatch(/^inline/);
      expect(lastFake().headers.range).toBe('bytes=0-9');
      expect(lastFake().headers['accept-encoding']).toBe('identity');
    });
    it('refuses a range of a text body, which cannot be rewritten, rather than pass the account token on', async () => {
      // An upstream that honours ranges on JSON (the fake does on any body given as bytes).
      gw.fake.webApp.place('/backend-api/settings/ranged', {
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify({ token: owner.accessToken, note: 'x'.repeat(200) })),
      });
      const part = await request(gw.url).get('/backend-api/settings/ranged').set(bearer).set('range', 'bytes=0-80');
      expect(part.status).toBe(502);
      expect(part.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_partial_text' });
      expect(part.text).not.toContain(owner.accessToken.slice(0, 40));
      // Without a range the body is rewritten as usual.
      const whole = await request(gw.url).get('/backend-api/settings/ranged').set(bearer);
      expect(whole.status).toBe(200);
      expect(whole.text).not.toContain(owner.accessToken);
    });
  });

  describe('answered locally', () => {
    it('swallows telemetry and blocks source maps and challenge scripts', async () => {
      const before = { fake: gw.fake.requests.length, statsig: statsig.requests.length, cdn: cdn.requests.length };
      expect((await request(gw.url).post('/ces/v1/t').send({ userId: 'x' })).status).toBe(202);
      expect((await request(gw.url).post('/ces/statsc/flush').send('x')).status).toBe(202);
      expect((await request(gw.url).post('/ab/v1/rgstr').send({ events: [] })).status).toBe(202);
      const settings = await request(gw.url).get('/ces/v1/projects/oai/settings');
      expect(settings.body.integrations['Segment.io'].apiHost).toMatch(/\/ces\/v1$/);
      expect((await request(gw.url).get('/cdn-cgi/challenge-platform/h/g/orchestrate')).status).toBe(404);
      expect((await request(gw.url).get('/assets/app.js.map')).status).toBe(404);
      expect((await request(gw.url).get('/backend-api/edge').set(bearer)).status).toBe(204);
      expect({ fake: gw.fake.requests.length, statsig: statsig.requests.length, cdn: cdn.requests.length }).toEqual(before);
    });

    it('lets the browser run its own sentinel when NO_SENTINEL is off', async () => {
      const calls = gw.fake.sentinelCalls;
      const requirements = await request(gw.url).post('/backend-api/sentinel/chat-requirements').set(bearer).send({ p: 'nonsense' });
      expect(requirements.status).toBe(400);
      expect(gw.fake.sentinelCalls).toBe(calls + 1);
    });
  });

  describe('WebSocket hand-off', () => {
    let upstreamWs: WebSocketServer;
    let seenAuthorization: string | undefined;

    beforeAll(async () => {
      upstreamWs = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise<void>((resolve) => upstreamWs.once('listening', () => resolve()));
      upstreamWs.on('connection', (socket, req) => {
        seenAuthorization = req.headers.authorization;
        socket.send(JSON.stringify({ type: 'hello', verify: new URL(req.url ?? '/', 'http://x').searchParams.get('verify') }));
        socket.on('message', (data) => socket.send(`echo:${(data as Buffer).toString('utf8')}`));
      });
      const port = (upstreamWs.address() as { port: number }).port;
      gw.fake.useControlRoutes((r) =>
        r.path === '/backend-api/celsius/ws/user' && r.headers.authorization === `Bearer ${owner.accessToken}`
          ? { status: 200, body: { websocket_url: `ws://127.0.0.1:${port}/client?verify=upstream-secret` } }
          : undefined,
      );
    });
    afterAll(async () => {
      gw.fake.useControlRoutes(() => undefined);
      for (const client of upstreamWs.clients) client.terminate();
      await new Promise<void>((resolve) => upstreamWs.close(() => resolve()));
    });

    async function handOff(): Promise<string> {
      const answer = await request(gw.url).get('/backend-api/celsius/ws/user').set(bearer);
      expect(answer.text).not.toContain('upstream-secret');
      const url = answer.body.websocket_url as string;
      expect(url).toMatch(/^wss:\/\/gw\.example\.test\/gateway-ws\/[A-Za-z0-9_-]{32}$/);
      return url.replace('wss://gw.example.test', gw.url.replace(/^http/, 'ws'));
    }

    it('rewrites websocket_url to our bridge and relays frames both ways with the account credentials', async () => {
      const socket = new WebSocket(await handOff(), { headers: { cookie: ownerSession.cookie } });
      const messages: string[] = [];
      const got = (count: number) =>
        new Promise<void>((resolve) => {
          const check = () => (messages.length >= count ? resolve() : setTimeout(check, 10));
          check();
        });
      socket.on('message', (data) => messages.push((data as Buffer).toString('utf8')));
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      await got(1);
      expect(JSON.parse(messages[0])).toEqual({ type: 'hello', verify: 'upstream-secret' });
      socket.send('{"type":"subscribe","topic":"conversations"}');
      await got(2);
      expect(messages[1]).toBe('echo:{"type":"subscribe","topic":"conversations"}');
      expect(seenAuthorization).toBe(`Bearer ${owner.accessToken}`);
      socket.close();
    });

    it('answers 404 to an upgrade on any other path and closes the connection, rather than leaving it open', async () => {
      const { hostname, port } = new URL(gw.url);
      const socket = connect(Number(port), hostname);
      let answer = '';
      socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
      socket.write(`GET /somewhere HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
      await new Promise((resolve) => socket.once('close', resolve));
      expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    });

    it('refuses a ticket without its session, and a ticket twice', async () => {
      const url = await handOff();
      const stranger = gw.signIn('owner', newAccount(gw.fake, 'stranger'));
      const refused = await new Promise<number>((resolve) => {
        const socket = new WebSocket(url, { headers: { cookie: stranger.cookie } });
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => resolve(101));
      });
      expect(refused).toBe(403);
      const reused = await new Promise<number>((resolve) => {
        const socket = new WebSocket(url, { headers: { cookie: ownerSession.cookie } });
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => resolve(101));
      });
      expect(reused).toBe(403);
    });
  });
});

describe('browser gateway: NO_SENTINEL and FORCE_NO_HISTORY', () => {
  let gw: GatewayStack;
  let bearer: Record<string, string>;

  beforeAll(async () => {
    gw = await startGateway({ env: { NO_SENTINEL: 'true', FORCE_NO_HISTORY: 'true', X_SIGN: 'operator-sign-1' } });
    const account = newAccount(gw.fake, 'nosentinel');
    bearer = { authorization: `Bearer ${gw.signIn('seed', account).standIn}` };
  });
  afterAll(() => gw.close());

  it('answers the sentinel calls itself with nothing required', async () => {
    const calls = gw.fake.sentinelCalls;
    for (const path of ['/backend-api/sentinel/chat-requirements', '/backend-api/sentinel/chat-requirements/prepare']) {
      const answer = await request(gw.url).post(path).set(bearer).send({ p: 'gAAAAACxyz' });
      expect(answer.status).toBe(200);
      expect(answer.body.proofofwork.required).toBe(false);
      expect(answer.body.turnstile.required).toBe(false);
    }
    const finalized = await request(gw.url)
      .post('/backend-api/sentinel/chat-requirements/finalize')
      .set(bearer)
      .send({ prepare_token: 'x' });
    expect(typeof finalized.body.token).toBe('string');
    expect(gw.fake.sentinelCalls).toBe(calls);
  });

  it('solves the proof of work for the conversation (the fake checks it) and forces history off', async () => {
    const answer = await request(gw.url)
      .post('/backend-api/conversation')
      .set(bearer)
      .set('openai-sentinel-chat-requirements-token', 'browser-made-up')
      .send(conversationBody('hello through the gateway'));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(answer.text).toContain('Hello! How can I help you today?');
    expect(answer.headers['x-sign']).toBe('operator-sign-1');
    const posted = gw.fake.conversationRequests().pop();
    expect(posted?.headers['openai-sentinel-chat-requirements-token']).not.toBe('browser-made-up');
    expect(String(posted?.headers['openai-sentinel-proof-token'])).toMatch(/^gAAAAAB/);
    expect((posted?.body as Record<string, unknown>).history_and_training_disabled).toBe(true);
  });

  it('does the same for a sentinel call and a conversation post whatever its letter case', async () => {
    const calls = gw.fake.sentinelCalls;
    const prepared = await request(gw.url).post('/backend-api/Sentinel/Chat-Requirements/PREPARE').set(bearer).send({ p: 'gAAAAACxyz' });
    expect(typeof prepared.body.prepare_token).toBe('string');
    expect(gw.fake.sentinelCalls).toBe(calls);
    for (const path of ['/backend-api/f/Conversation', '/backend-api/Conversation', '/BACKEND-API/F/CONVERSATION']) {
      await request(gw.url)
        .post(path)
        .set(bearer)
        .set('openai-sentinel-chat-requirements-token', 'browser-made-up')
        .send(conversationBody('hello in another case'));
      const posted = gw.fake.requests.filter((r) => r.method === 'POST' && r.path.toLowerCase() === path.toLowerCase()).pop();
      expect(posted).toBeDefined();
      expect(posted?.headers['openai-sentinel-chat-requirements-token']).not.toBe('browser-made-up');
      expect((posted?.body as Record<string, unknown>).history_and_training_disabled).toBe(true);
    }
  });
});

/**
 * The page's context says where the request that fetched it came from: that was this server. The visitor sees their
 * own address (this test's client, on loopback) and no place.
 */
function expectVisitorNetworkFacts(html: string): void {
  for (const value of Object.values(FETCHER_NETWORK)) expect(html).not.toContain(value);
  const literal = /streamController\.enqueue\(("(?:[^"\\]|\\.)*")\)/.exec(html)![1];
  const values = JSON.parse((JSON.parse(literal) as string).split('\n')[0]) as unknown[];
  const bootstrap = values[values.indexOf('clientBootstrap') + 1] as Record<string, number>;
  const field = (name: string) => values[bootstrap[`_${values.indexOf(name)}`]];
  expect(field('cfConnectingIp')).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  expect(field('cfIpCity')).toBe('');
  expect(field('userRegion')).toBe('');
}

describe('browser gateway: the live chat page', () => {
  let fake: FakeUpstream;
  let gw: GatewayStack;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    gw = await startGateway({ fake, env: { PUBLIC_URL, CDN_BASE_URL: fake.url } });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  it('fetches the page signed in with a SessionToken and shows it with the stand-in, never the real tokens', async () => {
    const account = newAccount(fake, 'pageowner');
    const sessionToken = fake.webApp.createSessionToken(account.accessToken);
    const session = gw.signIn('owner', { ...account, sessionToken });
    const page = await request(gw.url).get('/').set('cookie', session.cookie);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('logged_in');
    expect(page.text).toContain(session.standIn);
    expect(page.text).not.toContain(account.accessToken);
    expect(page.text).not.toContain(sessionToken);
    expect(page.text).toContain(account.email);
    expect(page.text).toContain(`${PUBLIC_URL}/assets/${APP_SCRIPT}`);
    expect(page.headers['content-security-policy']).toContain(PUBLIC_URL);
    expect(page.headers['content-security-policy']).not.toContain('cdn.oaistatic.com');
    expect(page.headers['cache-control']).toBe('private, no-store');
    expect(page.headers['set-cookie']).toBeUndefined();
    expectVisitorNetworkFacts(page.text);
    const fetched = fake.requests.filter((r) => r.path === '/').pop();
    expect(fetched?.headers.cookie).toBe(`__Secure-next-auth.session-token=${sessionToken}`);
    expect(fetched?.headers['accept-encoding']).toContain('br');
    // The script it loads comes through both asset paths.
    expect((await request(gw.url).get(`/cdn/assets/${APP_SCRIPT}`)).status).toBe(200);
    expect((await request(gw.url).get(`/assets/${APP_SCRIPT}`)).status).toBe(200);
  });

  it('gives a seed without a SessionToken the captured signed-in page of the same build, with its own stand-in and none of the owner', async () => {
    const poolAccount = newAccount(fake, 'poolaccount');
    const seed = gw.signIn('seed', poolAccount);
    const page = await request(gw.url).get('/').set('cookie', seed.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain('logged_in');
    expect(page.text).toContain(seed.standIn);
    expect(page.text).not.toContain('pageowner');
    expect(page.text).not.toContain(poolAccount.accessToken);
    expectVisitorNetworkFacts(page.text);
  });

  it("gives another account's seed the captured page without the capturing account's workspaces, and with its own account's plan", async () => {
    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    try {
      const team = '7e57a11c-0000-4000-8000-00000000feed';
      const accountId = '0a11ce00-0000-4000-8000-0000000acc01';
      const accessToken = freshFake.createAccessToken({
        email: 'teamowner@example.com',
        userId: `user-${'teamowner'.padEnd(24, 'x')}`,
        accountId,
        plan: 'plus',
        teamAccountIds: [team],
      });
      const sessionToken = freshFake.webApp.createSessionToken(accessToken);
      const owner = fresh.signIn('owner', {
        accessToken,
        email: 'teamowner@example.com',
        userId: `user-${'teamowner'.padEnd(24, 'x')}`,
        sessionToken,
      });
      const own = await request(fresh.url).get('/').set('cookie', owner.cookie);
      // The owner's own page shows its own workspace and plan.
      for (const value of [accountId, team, 'Fake Team', '\\"plus\\"']) expect(own.text).toContain(value);

      const seed = fresh.signIn('seed', newAccount(freshFake, 'otherseed'));
      const page = await request(fresh.url).get('/').set('cookie', seed.cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain('logged_in');
      expect(page.text).toContain(seed.standIn);
      for (const value of [accountId, team, 'Fake Team', 'teamowner']) expect(page.text).not.toContain(value);
      // The pool does not know this seed's plan: the page says the captured one, as the upstream sent it.
      expect(page.text).toContain('\\"plus\\"');

      // A seed of an account the pool knows to be free sees free; of a paid one, a paid plan.
      const freeSeed = fresh.signIn('seed', { ...newAccount(freshFake, 'freeseed'), planTier: 'free' });
      const freePage = await request(fresh.url).get('/').set('cookie', freeSeed.cookie);
      expect(freePage.text).toContain('logged_in');
      expect(freePage.text).toContain('\\"free\\"');
      expect(freePage.text).not.toContain('\\"plus\\"');
      const paidSeed = fresh.signIn('seed', { ...newAccount(freshFake, 'paidseed'), planTier: 'paid' });
      const paidPage = await request(fresh.url).get('/').set('cookie', paidSeed.cookie);
      expect(paidPage.text).toContain('\\"plus\\"');
      expect(paidPage.text).not.toContain('\\"free\\"');
    } finally {
      await fresh.close();
      await freshFake.close();
    }
  });

  it('gives an owner its own page when its profile or workspaces cannot be read for the page kept for others', async () => {
    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    try {
      const refused = new Set(['/backend-api/me', '/backend-api/accounts/check/v4-2023-04-27']);
      freshFake.useControlRoutes((r) => (refused.has(r.path) ? { status: 500, body: { detail: 'unavailable' } } : undefined));
      const account = newAccount(freshFake, 'unreadableowner');
      const sessionToken = freshFake.webApp.createSessionToken(account.accessToken);
      const owner = fresh.signIn('owner', { ...account, sessionToken });
      const page = await request(fresh.url).get('/').set('cookie', owner.cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain('logged_in');
      expect(page.text).toContain(owner.standIn);
      // The workspaces read, the profile not: the owner's page still does not depend on it.
      refused.delete('/backend-api/accounts/check/v4-2023-04-27');
      const again = await request(fresh.url).get('/').set('cookie', owner.cookie);
      expect(again.status).toBe(200);
      expect(again.text).toContain(owner.standIn);
      // Nothing unscrubbed was kept: another account's seed gets no page of this account's.
      const seed = fresh.signIn('seed', newAccount(freshFake, 'unreadableseed'));
      const seedPage = await request(fresh.url).get('/').set('cookie', seed.cookie);
      expect(seedPage.text).not.toContain('unreadableowner');
    } finally {
      await fresh.close();
      await freshFake.close();
    }
  });

  it("serves an owner's home page without waiting for the workspaces read to keep a copy for others", async () => {
    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    try {
      const identifiers = fresh.app.get(AccountIdentifiers);
      const read = identifiers.workspacesOf.bind(identifiers);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      jest.spyOn(identifiers, 'workspacesOf').mockImplementation(async (...args) => {
        await held;
        return read(...args);
      });
      const account = newAccount(freshFake, 'slowowner');
      const sessionToken = freshFake.webApp.createSessionToken(account.accessToken);
      const owner = fresh.signIn('owner', { ...account, sessionToken });
      // accounts/check has not answered yet: the owner's page comes all the same.
      const page = await request(fresh.url).get('/').set('cookie', owner.cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain(owner.standIn);
      release();
      // Kept once read: another account's seed gets it, scrubbed.
      const seed = fresh.signIn('seed', newAccount(freshFake, 'slowseed'));
      const seedPage = await request(fresh.url).get('/').set('cookie', seed.cookie);
      expect(seedPage.text).toContain('logged_in');
      expect(seedPage.text).toContain(seed.standIn);
      expect(seedPage.text).not.toContain('slowowner');
    } finally {
      await fresh.close();
      await freshFake.close();
    }
  });

  it("keeps no conversation's page to show others: only the home page is kept as the signed-in shell", async () => {
    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    try {
      const owner = newAccount(freshFake, 'convowner');
      const sessionToken = freshFake.webApp.createSessionToken(owner.accessToken);
      const ownerBrowser = fresh.signIn('owner', { ...owner, sessionToken });
      // The upstream renders a conversation's page with the conversation in it.
      const home = await fetch(`${freshFake.url}/`, { headers: { cookie: `__Secure-next-auth.session-token=${sessionToken}` } });
      const conversationPage = (await home.text()).replace('</body>', '<p>the owner alone wrote this</p></body>');
      const conversation = '/c/0b1c2d3e-0000-4000-8000-00000000000a';
      freshFake.webApp.place(conversation, { contentType: 'text/html; charset=utf-8', body: conversationPage });
      const own = await request(fresh.url).get(conversation).set('cookie', ownerBrowser.cookie);
      expect(own.text).toContain('the owner alone wrote this');

      const seed = fresh.signIn('seed', newAccount(freshFake, 'convseed'));
      const page = await request(fresh.url).get('/').set('cookie', seed.cookie);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('the owner alone wrote this');
    } finally {
      await fresh.close();
      await freshFake.close();
    }
  });

  it('never shows or keeps a token it did not know of: the upstream renewed the session before our renewal', async () => {
    // A gateway of its own, with no page kept yet: whatever it keeps comes from this test.
    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    const tokenShape = /eyJ[\w-]{8,}\.[\w-]+\.[\w-]+/;
    try {
      // The session's page holds a newer AccessToken than the one this gateway holds for the account.
      const held = newAccount(freshFake, 'renewedowner');
      const renewed = freshFake.createAccessToken({ email: held.email, userId: held.userId });
      const sessionToken = freshFake.webApp.createSessionToken(renewed);
      const owner = fresh.signIn('owner', { ...held, sessionToken });
      const page = await request(fresh.url).get('/').set('cookie', owner.cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain('logged_in');
      expect(page.text).toContain(owner.standIn);
      expect(page.text).not.toContain(renewed);
      expect(page.text).not.toMatch(tokenShape);

      // Kept as the signed-in shell: a seed of the same build gets it with its own stand-in, without the owner.
      const seed = fresh.signIn('seed', newAccount(freshFake, 'renewseed'));
      const seedPage = await request(fresh.url).get('/').set('cookie', seed.cookie);
      expect(seedPage.text).toContain('logged_in');
      expect(seedPage.text).toContain(seed.standIn);
      expect(seedPage.text).not.toContain(renewed);
      expect(seedPage.text).not.toContain('renewedowner');

      // And the fallback while the upstream refuses holds no token either.
      freshFake.webApp.pageStatus = 503;
      const other = fresh.signIn('owner', newAccount(freshFake, 'otherowner'));
      const fallback = await request(fresh.url).get('/').set('cookie', other.cookie);
      expect(fallback.status).toBe(200);
      expect(fallback.text).toContain(other.standIn);
      expect(fallback.text).not.toContain(renewed);
      expect(fallback.text).not.toMatch(tokenShape);
    } finally {
      await fresh.close();
      await freshFake.close();
    }
  });

  it('hides a short account name from a seed: a whole string value of the page, not a piece of a word', async () => {
    const account = newAccount(fake, 'kim');
    const sessionToken = fake.webApp.createSessionToken(account.accessToken);
    const seed = gw.signIn('seed', { ...account, sessionToken });
    const page = await request(gw.url).get('/').set('cookie', seed.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain('logged_in');
    expect(page.text).not.toMatch(/\\?"kim\\?"/);
    expect(page.text).toContain('FlowGPT User');
    expect(page.text).not.toContain(account.email);
    // The owner sees their own name.
    const owner = gw.signIn('owner', { ...account, sessionToken });
    expect((await request(gw.url).get('/').set('cookie', owner.cookie)).text).toMatch(/\\"kim\\"/);
  });

  it('falls back to the last good page while the upstream refuses, and says so clearly when there never was one', async () => {
    const account = newAccount(fake, 'whiledown');
    const session = gw.signIn('owner', account);
    fake.webApp.pageStatus = 503;
    try {
      const page = await request(gw.url).get('/').set('cookie', session.cookie);
      expect(page.status).toBe(200);
      expect(page.text).toContain(session.standIn);
      expect(page.text).not.toContain('pageowner');
    } finally {
      fake.webApp.pageStatus = null;
    }

    const freshFake = await FakeUpstream.start();
    const fresh = await startGateway({ fake: freshFake });
    try {
      freshFake.webApp.pageStatus = 503;
      const session2 = fresh.signIn('owner', newAccount(freshFake, 'nobody'));
      const page = await request(fresh.url).get('/').set('cookie', session2.cookie);
      expect(page.status).toBe(503);
      expect(page.text).toContain('The chat UI is unavailable');
      expect(page.text).toContain('HTTP 503');
      await freshFake.close();
      const unreachable = await request(fresh.url).get('/').set('cookie', session2.cookie);
      expect(unreachable.status).toBe(503);
      expect(unreachable.text).toContain('could not be reached');
    } finally {
      await fresh.close();
    }
  });
});

describe('browser gateway: disabled', () => {
  let gw: GatewayStack;
  beforeAll(async () => {
    gw = await startGateway({ env: { ENABLE_GATEWAY: 'false' } });
  });
  afterAll(() => gw.close());

  it('serves none of the gateway routes without ENABLE_GATEWAY', async () => {
    const account = newAccount(gw.fake, 'off');
    const { standIn } = gw.signIn('owner', account);
    const before = gw.fake.requests.length;
    for (const path of ['/backend-api/me', `/cdn/assets/${APP_SCRIPT}`, '/assets/x.js', '/ces/v1/projects/oai/settings']) {
      const response = await request(gw.url).get(path).set('authorization', `Bearer ${standIn}`);
      // Exactly what an unknown URL gets: the routes do not show that they exist.
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('unknown_url');
    }
    expect(gw.fake.requests.length).toBe(before);
  });
});
