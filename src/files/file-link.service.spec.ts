import { type AddressInfo, connect } from 'node:net';
import { Readable } from 'node:stream';
import express from 'express';
import type { Request } from 'express';
import type { AdminSigningKey } from '../admin/admin-signing-key';
import type { CredentialService } from '../auth/credential.service';
import { ApiError } from '../common/errors/api-error';
import { MemoryKeyValueStore } from '../common/shared-state/key-value.store';
import type { SharedState } from '../common/shared-state/shared-state';
import type { AppConfig } from '../config/app-config';
import type { UpstreamClient } from '../upstream/upstream.client';
import { FileLinkService, type FileSource } from './file-link.service';
import { LinkTokenSeal } from './link-token-seal';

describe('FileLinkService.bytes', () => {
  const base = 'https://chatgpt.example';
  const config = { chatgptBaseUrl: [base], filesBaseUrl: 'https://files.example' } as unknown as AppConfig;
  const shared = { keyValues: () => ({}) } as unknown as SharedState;
  const source = { identity: { fingerprint: {} }, baseUrl: base } as unknown as FileSource;

  function storageSending(body: Readable): UpstreamClient {
    return {
      request: async () => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify({ download_url: `${base}/blob/file-1?sig=x` })) }),
      stream: async () => ({ status: 200, headers: { 'content-type': 'image/png' }, body }),
    } as unknown as UpstreamClient;
  }

  it('answers 502 upstream_unreachable when the storage connection breaks mid-file, not a 500', async () => {
    const cut = new Readable({
      read() {
        this.push(Buffer.from('first half'));
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    const links = new FileLinkService(config, storageSending(cut), {} as CredentialService, shared, {} as LinkTokenSeal);
    const failure = await links.bytes(source, '/backend-api/files/file-1/download').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).getStatus()).toBe(502);
    expect((failure as ApiError).body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unreachable' });
  });

  it('reads a whole file', async () => {
    const links = new FileLinkService(
      config,
      storageSending(Readable.from([Buffer.from('ab'), Buffer.from('cd')])),
      {} as CredentialService,
      shared,
      {} as LinkTokenSeal,
    );
    expect(await links.bytes(source, '/backend-api/files/file-1/download')).toEqual({
      bytes: Buffer.from('abcd'),
      contentType: 'image/png',
    });
  });
});

describe('FileLinkService links made with a client’s own AccessToken', () => {
  const base = 'https://chatgpt.example';
  const config = { chatgptBaseUrl: [base], filesBaseUrl: 'https://files.example' } as unknown as AppConfig;
  const token = 'eyJhbGciOiJSUzI1NiJ9.client-own-access-token.signature-part';
  const path = '/backend-api/files/file-1/download';
  const upstream = {
    request: async () => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify({ download_url: `${base}/blob/file-1?sig=x` })) }),
    stream: async () => ({ status: 200, headers: { 'content-type': 'image/png' }, body: Readable.from([Buffer.from('png')]) }),
    accountIdentity: () => ({ fingerprint: {} }),
    pickBaseUrl: () => base,
  } as unknown as UpstreamClient;

  function setUp(key = 'install-key-1') {
    const store = new MemoryKeyValueStore(100);
    const shared = { keyValues: () => store } as unknown as SharedState;
    const opened: string[] = [];
    const credentials = {
      accessTokenAccount: (accessToken: string, chatgptAccountId?: string) => {
        opened.push(accessToken);
        return { accessToken, chatgptAccountId, fingerprintKey: 'direct' };
      },
    } as unknown as CredentialService;
    const signingKey = { get: async () => key, fresh: async () => key } as unknown as AdminSigningKey;
    const links = new FileLinkService(config, upstream, credentials, shared, new LinkTokenSeal(config, signingKey));
    return { store, links, opened };
  }
  const source = { account: { accessToken: token, fingerprintKey: 'direct' }, identity: { fingerprint: {} }, baseUrl: base } as FileSource;
  const idOf = (link: string | null) => /\/files\/([A-Za-z0-9_-]{32})$/.exec(link ?? '')![1];

  it('keeps no part of the token in the stored record, and the link still opens as that token', async () => {
    const { store, links, opened } = setUp();
    const id = idOf(await links.linkFor(source, path, 'http://gateway.example'));
    const stored = (await store.get(id, Date.now()))!;
    expect(stored).not.toContain(token);
    expect(stored).not.toContain('client-own-access-token');
    const file = await links.open(id);
    expect(file.headers['content-type']).toBe('image/png');
    expect(opened).toEqual([token]);
  });

  it('opens a record written in clear by an earlier version until it expires', async () => {
    const { store, links, opened } = setUp();
    const id = 'B'.repeat(32);
    await store.set(id, JSON.stringify({ path, accessToken: token }), Date.now(), 60_000);
    await links.open(id);
    expect(opened).toEqual([token]);
  });

  it('answers file_unavailable for a sealed token it cannot open (another key, or a record moved to another id)', async () => {
    const made = setUp('install-key-1');
    const id = idOf(await made.links.linkFor(source, path, 'http://gateway.example'));
    const record = (await made.store.get(id, Date.now()))!;

    const otherKey = setUp('install-key-2');
    await otherKey.store.set(id, record, Date.now(), 60_000);
    await expect(otherKey.links.open(id)).rejects.toMatchObject({ body: { error: { code: 'file_unavailable' } } });

    const moved = 'C'.repeat(32);
    await made.store.set(moved, record, Date.now(), 60_000);
    await expect(made.links.open(moved)).rejects.toMatchObject({ body: { error: { code: 'file_unavailable' } } });
    expect([...otherKey.opened, ...made.opened]).toEqual([]);
  });
});

describe('FileLinkService.originFor', () => {
  const links = (config: Partial<AppConfig>) =>
    new FileLinkService(
      config as AppConfig,
      {} as UpstreamClient,
      {} as CredentialService,
      { keyValues: () => ({}) } as unknown as SharedState,
      {} as LinkTokenSeal,
    );
  const requestTo = (host: string | undefined, localAddress: string, localPort = 5005) =>
    ({
      protocol: 'http',
      host,
      get: (name: string) => (name.toLowerCase() === 'host' ? host : undefined),
      socket: { localAddress, localPort },
    }) as unknown as Request;

  it('points at the host the client called', () => {
    expect(links({}).originFor(requestTo('gateway.example:8080', '10.0.0.5'))).toBe('http://gateway.example:8080');
  });

  it('points at the address the request came in on when an HTTP/1.0 client sent no Host, never at "undefined"', () => {
    expect(links({}).originFor(requestTo(undefined, '10.0.0.5'))).toBe('http://10.0.0.5:5005');
    expect(links({}).originFor(requestTo(undefined, '::ffff:127.0.0.1', 5100))).toBe('http://127.0.0.1:5100');
    expect(links({}).originFor(requestTo(undefined, '::1'))).toBe('http://[::1]:5005');
    expect(links({}).originFor(requestTo('', '10.0.0.5'))).toBe('http://10.0.0.5:5005');
  });
});

describe('FileLinkService links to converted images', () => {
  const base = 'https://chatgpt.example';
  const config = { chatgptBaseUrl: [base], filesBaseUrl: 'https://files.example' } as unknown as AppConfig;
  const path = '/backend-api/files/file-1/download';
  const idOf = (link: string | null) => /\/files\/([A-Za-z0-9_-]{32})$/.exec(link ?? '')![1];

  async function setUp() {
    const { default: sharp } = await import('sharp');
    const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: '#336699' } })
      .png()
      .toBuffer();
    const downloads: string[] = [];
    const upstream = {
      request: async () => ({ status: 200, headers: {}, body: Buffer.from(JSON.stringify({ download_url: `${base}/blob/file-1?sig=x` })) }),
      stream: async ({ url }: { url: string }) => {
        downloads.push(url);
        return { status: 200, headers: { 'content-type': 'image/png' }, body: Readable.from([png]) };
      },
      accountIdentity: () => ({ fingerprint: {} }),
      pickBaseUrl: () => base,
    } as unknown as UpstreamClient;
    const store = new MemoryKeyValueStore(100);
    const shared = { keyValues: () => store } as unknown as SharedState;
    const credentials = {
      poolAccount: async (id: string) => ({ poolAccountId: id, accessToken: 'pool', fingerprintKey: id }),
    } as unknown as CredentialService;
    const links = new FileLinkService(config, upstream, credentials, shared, {} as LinkTokenSeal);
    const source = {
      account: { poolAccountId: 'acct-1', fingerprintKey: 'acct-1' },
      identity: { fingerprint: {} },
      baseUrl: base,
    } as unknown as FileSource;
    return { links, downloads, source };
  }
  const read = async (body: Readable) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  it('downloads and converts a link once, however often and however concurrently it is opened', async () => {
    const { links, downloads, source } = await setUp();
    const id = idOf(await links.linkFor(source, path, 'http://gateway.example', { format: 'jpeg', compression: 50 }));
    const [first, second] = await Promise.all([links.open(id), links.open(id)]);
    const third = await links.open(id);
    const bodies = await Promise.all([first, second, third].map((file) => read(file.body)));
    expect(downloads).toHaveLength(1);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect(third.headers).toEqual({ 'content-type': 'image/jpeg', 'content-length': String(bodies[0].length) });
  });

  it('converts again for a link asking another compression', async () => {
    const { links, downloads, source } = await setUp();
    const low = idOf(await links.linkFor(source, path, 'http://gateway.example', { format: 'webp', compression: 10 }));
    const high = idOf(await links.linkFor(source, path, 'http://gateway.example', { format: 'webp', compression: 90 }));
    await links.open(low);
    await links.open(high);
    await links.open(low);
    expect(downloads).toHaveLength(2);
  });
});

describe('FileLinkService.originFor behind a reverse proxy', () => {
  const links = new FileLinkService(
    {} as AppConfig,
    {} as UpstreamClient,
    {} as CredentialService,
    { keyValues: () => ({}) } as unknown as SharedState,
    {} as LinkTokenSeal,
  );

  /** The origin links get for a request with `headers` (no Host unless given), on an app that trusts `trusted`. */
  async function originBehind(trusted: string | false, headers: Record<string, string>): Promise<string> {
    const app = express();
    app.set('trust proxy', trusted);
    app.get('/origin', (request, response) => {
      response.send(links.originFor(request));
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // HTTP/1.0, as a proxy that names no Host may speak it (HTTP/1.1 without Host is refused before any route).
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(`GET /origin HTTP/1.0\r\n${head.join('')}\r\n`));
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      return answer.slice(answer.indexOf('\r\n\r\n') + 4);
    } finally {
      server.close();
    }
  }

  const forwarded = { 'x-forwarded-host': 'chat.example.com', 'x-forwarded-proto': 'https' };

  it('points at the host a trusted proxy forwarded, not the internal one it called us by', async () => {
    expect(await originBehind('loopback', { host: 'flowgpt-internal:5005', ...forwarded })).toBe('https://chat.example.com');
  });

  it('points at the host a trusted proxy forwarded when the proxy sent no Host, never at our internal address', async () => {
    expect(await originBehind('loopback', forwarded)).toBe('https://chat.example.com');
  });

  it('ignores forwarded headers from a client that is not a trusted proxy', async () => {
    expect(await originBehind(false, { host: 'gateway.example:8080', ...forwarded })).toBe('http://gateway.example:8080');
  });
});
