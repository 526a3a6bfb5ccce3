import request from 'supertest';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import WebSocket, { type RawData, WebSocketServer } from 'ws';
import { SeedRegistry, seedIdFor } from '../src/token-pool/seed-registry';
import { ACCOUNT_STORE, type AccountStore } from '../src/token-pool/stores/account-store';
import { APP_SCRIPT } from './fake-upstream/web-app';
import type { SignedInBrowser } from './support/browser-sign-in';
import { GATEWAY_ADMIN_KEY, SignedInGatewayStack, startSignedInGateway, conversationBody } from './support/gateway-stack';

jest.setTimeout(120_000);

/** The pool account everybody here shares: uploaded as a RefreshToken, its profile full of things to hide. */
const POOL = {
  email: 'pool.owner.person@example.com',
  name: 'pool.owner.person',
  phone: '+15557654321',
  userId: 'user-PoolOwnerPersonXXXXXXXXX',
};
const SEED_A = 'seed-alpha-0001';
const SEED_B = 'seed-bravo-0002';

function textOf(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
}

function conversationIdIn(sse: string): string {
  const id = /"conversation_id":\s*"([0-9a-f-]{36})"/.exec(sse)?.[1];
  if (!id) throw new Error(`no conversation id in ${sse.slice(0, 300)}`);
  return id;
}

describe('browser gateway: seed rules, with the real sign-in', () => {
  let gw: SignedInGatewayStack;
  let refreshToken: string;
  let owner: SignedInBrowser;
  let seedA: SignedInBrowser;
  let seedB: SignedInBrowser;
  let ownerConversation: string;
  let conversationA: string;
  let conversationB: string;

  /** The pool account's AccessToken, as the fake saw it on the seeds' proxied calls. */
  const poolAccessTokens = () =>
    new Set(
      gw.fake.requests
        .map((r) => /^Bearer (eyJ\S+)$/.exec(String(r.headers.authorization ?? ''))?.[1])
        .filter((token): token is string => Boolean(token)),
    );

  async function post(browser: SignedInBrowser, text: string, conversationId?: string): Promise<request.Response> {
    return request(gw.url).post('/backend-api/conversation').set(browser.bearer).send(conversationBody(text, conversationId));
  }

  beforeAll(async () => {
    gw = await startSignedInGateway({ env: { NO_SENTINEL: 'true' } });
    refreshToken = gw.fake.createRefreshToken({ account: { email: POOL.email, userId: POOL.userId, phone: POOL.phone } });
    await gw.upload([refreshToken]);
    owner = await gw.signIn(refreshToken);
    const own = await post(owner, 'the owner speaks');
    expect(own.status).toBe(200);
    ownerConversation = conversationIdIn(own.text);
    seedA = await gw.signIn(SEED_A);
    seedB = await gw.signIn(SEED_B);
  });
  afterAll(() => gw?.close());

  describe('AUTO_SEED', () => {
    it('serves the first request of a brand-new seed', async () => {
      const fresh = await gw.signIn('seed-fresh-first-request');
      const models = await request(gw.url).get('/backend-api/models').set(fresh.bearer);
      expect(models.status).toBe(200);
      expect(Array.isArray(models.body.models)).toBe(true);
      const me = await request(gw.url).get('/backend-api/me').set(fresh.bearer).expect(200);
      expect(me.body.id).toBe(`user-${seedIdFor('seed-fresh-first-request')}`);
    });
  });

  describe('the table', () => {
    it.each([
      ['/backend-api/me', { object: 'user', name: 'FlowGPT User', phone_number: null }],
      ['/backend-api/user_system_messages', { object: 'user_system_message_detail', enabled: false, about_user_message: '' }],
      ['/backend-api/memories', { memories: [], memory_max_tokens: 2000, memory_num_tokens: 0 }],
      ['/backend-api/shared_conversations', { items: [], total: 0 }],
      ['/backend-api/gizmos/bootstrap', { gizmos: [] }],
      ['/backend-api/gizmos/pinned', { items: [], cursor: null }],
      ['/backend-api/gizmos/snorlax/sidebar', { items: [], cursor: null }],
      ['/public-api/gizmos/discovery/recent', { list: { items: [], cursor: null } }],
      ['//backend-api//memories', { memories: [] }],
    ])('answers GET %s with its blank value, without asking the upstream', async (path, expected) => {
      const before = gw.fake.requests.length;
      const answer = await request(gw.url).get(path).set(seedA.bearer);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject(expected);
      expect(gw.fake.requests.length).toBe(before);
    });

    it.each([
      ['POST', '/backend-api/me'],
      ['POST', '/backend-api/user_system_messages'],
      ['DELETE', '/backend-api/memories'],
      ['POST', '/backend-api/memories/m-1'],
      ['POST', '/backend-api/accounts/logout_all'],
      ['POST', '/backend-api/accounts/deactivate'],
      ['POST', '/backend-api/accounts/data_export'],
      ['GET', '/backend-api/accounts/mfa_info'],
      ['GET', '/backend-api/accounts/00000000-0000-4000-8000-000000000000/invites'],
      ['GET', '/backend-api/accounts/00000000-0000-4000-8000-000000000000/users'],
      ['GET', '/backend-api/payments/customer_portal'],
      ['POST', '/backend-api/subscriptions'],
      ['PATCH', '/backend-api/settings/account_user_setting'],
      ['POST', '/backend-api/settings/clear_account_user_memory'],
      ['POST', '/backend-api/shared_conversations'],
      ['GET', '/backend-api/share/some-share-id'],
      ['GET', '/backend-api/connectors/list'],
      ['POST', '/backend-api/gizmos/snorlax/upsert'],
      ['GET', '/backend-api/gizmos/discovery/mine'],
      ['GET', '/backend-api/gizmo_creator_profile'],
      ['PATCH', '/backend-api/conversations/00000000-0000-4000-8000-000000000000'],
      ['PATCH', '/backend-api/conversations'],
      ['GET', '/public-api/gizmos/discovery/mine'],
    ])('refuses %s %s with 403 in the API error shape, without asking the upstream', async (method, path) => {
      const before = gw.fake.requests.length;
      const answer = await request(gw.url)[method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete'](path).set(seedA.bearer).send({});
      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({
        error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'seed_restricted' },
      });
      expect(gw.fake.requests.length).toBe(before);
    });

    it("refuses the legacy register-websocket, whose wss_url carries the account's Web PubSub access_token", async () => {
      const webPubSubToken = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJ3c3M6Ly9odWIifQ.c2lnbmF0dXJlLW9mLWF6dXJl';
      gw.fake.webApp.place('/backend-api/register-websocket', {
        contentType: 'application/json',
        body: JSON.stringify({
          wss_url: `wss://chatgpt-async-webpubsub.webpubsub.azure.com/client/hubs/conversations?access_token=${webPubSubToken}`,
          expires_at: '2099-01-01T00:00:00Z',
        }),
      });
      try {
        const answer = await request(gw.url).post('/backend-api/register-websocket').set(seedA.bearer);
        expect(answer.text).not.toContain(webPubSubToken);
        expect(answer.status).toBe(403);
        expect(gw.fake.requests.filter((seen) => seen.path.includes('register-websocket'))).toEqual([]);
      } finally {
        gw.fake.webApp.unplace('/backend-api/register-websocket');
      }
    });

    it('refuses an account-level write the table does not know, and passes other writes', async () => {
      const before = gw.fake.requests.length;
      const settings = await request(gw.url).patch('/backend-api/settings/voice_preferences').set(seedA.bearer).send({ voice: 'ember' });
      expect(settings.status).toBe(403);
      expect(settings.body.error.code).toBe('seed_restricted');
      expect(gw.fake.requests.length).toBe(before);
      const upload = await request(gw.url)
        .post('/backend-api/files')
        .set(seedA.bearer)
        .send({ file_name: 'a.txt', file_size: 3, use_case: 'my_files' });
      expect(upload.status).toBe(200);
      expect(upload.body.file_id).toBeDefined();
    });

    it('passes an unknown read through the scrubber: none of the account identifiers, whatever their length', async () => {
      gw.fake.webApp.place('/backend-api/some_new_feature', {
        contentType: 'application/json',
        body: JSON.stringify({
          owner: { email: POOL.email, display: `Hi ${POOL.name}`, phone: POOL.phone, id: POOL.userId },
          short: 'pool.owner.person',
        }),
      });
      const answer = await request(gw.url).get('/backend-api/some_new_feature').set(seedA.bearer);
      expect(answer.status).toBe(200);
      for (const secret of [POOL.email, POOL.name, POOL.phone, POOL.userId]) expect(answer.text).not.toContain(secret);
      expect(answer.body.owner.display).toBe('Hi FlowGPT User');
      expect(answer.headers['cache-control']).toBe('private, no-store');
    });

    it("never reaches the account's search, image library, tasks or automations", async () => {
      const before = gw.fake.requests.length;
      const search = await request(gw.url).get('/backend-api/conversations/search?query=secret').set(seedA.bearer);
      expect(search.status).toBe(200);
      expect(search.body).toEqual({ items: [], cursor: null });
      const library = await request(gw.url).get('/backend-api/my/recent/image_gen?limit=25').set(seedA.bearer);
      expect(library.body).toEqual({ items: [], cursor: null });
      for (const path of ['/backend-api/tasks', '/backend-api/automations', '/backend-api/projects'])
        expect((await request(gw.url).get(path).set(seedA.bearer)).status).toBe(403);
      expect(gw.fake.requests.length).toBe(before);
    });

    it("refuses the account's conversations under any other plural route: pinned, recent, bulk changes", async () => {
      gw.fake.webApp.place('/backend-api/conversations/pinned', {
        contentType: 'application/json',
        body: JSON.stringify({ items: [{ id: ownerConversation, title: 'the owner’s' }] }),
      });
      try {
        const before = gw.fake.requests.length;
        const answers = [
          await request(gw.url).get('/backend-api/conversations/pinned').set(seedA.bearer),
          await request(gw.url).get('/backend-api/Conversations/recent?limit=5').set(seedA.bearer),
          await request(gw.url).post('/backend-api/conversations/archive_all').set(seedA.bearer).send({}),
          await request(gw.url).delete('/backend-api/conversations/all').set(seedA.bearer),
        ];
        expect(answers.map((answer) => [answer.status, answer.body.error?.code])).toEqual(answers.map(() => [403, 'seed_restricted']));
        expect(gw.fake.requests.length).toBe(before);
        // The owner reaches it as ever.
        expect((await request(gw.url).get('/backend-api/conversations/pinned').set(owner.bearer)).status).toBe(200);
      } finally {
        gw.fake.webApp.unplace('/backend-api/conversations/pinned');
      }
    });

    it("refuses a seed's conversation in one of the account's projects, which would be given the project's files", async () => {
      const project = 'g-p-0123456789abcdef0123456789abcdef';
      const before = gw.fake.requests.length;
      const answers = [
        await request(gw.url)
          .post('/backend-api/conversation')
          .set(seedA.bearer)
          .send({ ...conversationBody('in the project'), conversation_mode: { kind: 'gizmo_interaction', gizmo_id: project } }),
        await request(gw.url)
          .post('/backend-api/f/conversation')
          .set(seedA.bearer)
          .send({ ...conversationBody('in the project'), project_id: `${project.toUpperCase()}-trip` }),
        await request(gw.url).post('/backend-api/conversation/init').set(seedA.bearer).send({ gizmo_id: project }),
      ];
      expect(answers.map((answer) => [answer.status, answer.body.error?.code])).toEqual(answers.map(() => [403, 'seed_restricted']));
      // (The profile is the gateway's own read of the account's identifiers, whatever the request.)
      const asked = gw.fake.requests.slice(before).filter((seen) => seen.path !== '/backend-api/me');
      expect(asked.map((seen) => seen.path)).toEqual([]);
      // A public GPT is still used (the fake knows none: it is enough that the gateway passes the post on).
      await request(gw.url)
        .post('/backend-api/conversation')
        .set(seedA.bearer)
        .send({ ...conversationBody('with a GPT'), conversation_mode: { kind: 'gizmo_interaction', gizmo_id: 'g-2fkFE8rbu' } });
      expect(gw.fake.requests.at(-1)?.body).toMatchObject({ conversation_mode: { gizmo_id: 'g-2fkFE8rbu' } });
    });

    it("hands a seed off to the bridge whatever the letter case of the path, never the account's own WebSocket URL", async () => {
      // An upstream that routes without regard to case.
      gw.fake.webApp.place('/backend-api/Celsius/ws/user', {
        contentType: 'application/json',
        body: JSON.stringify({ websocket_url: 'wss://ws.example.invalid/ws/user?verify=account-own-verify' }),
      });
      try {
        const handOff = await request(gw.url).get('/backend-api/Celsius/ws/user').set(seedA.bearer).expect(200);
        expect(String(handOff.body.websocket_url)).toMatch(/^ws:\/\/[^/]+\/gateway-ws\//);
        expect(handOff.text).not.toContain('account-own-verify');
      } finally {
        gw.fake.webApp.unplace('/backend-api/Celsius/ws/user');
      }
    });

    it('hides the real user id and workspace name in accounts/check, keeping the account id', async () => {
      const answer = await request(gw.url).get('/backend-api/accounts/check/v4-2023-04-27').set(seedA.bearer).expect(200);
      const [entry] = Object.values(answer.body.accounts as Record<string, { account: { account_user_id: string; account_id: string } }>);
      expect(entry.account.account_user_id).toBe(`user-flowgpt__${entry.account.account_id}`);
      expect(answer.text).not.toContain(POOL.userId);
    });
  });

  describe('the target headers of a seed', () => {
    it('name the path its rules checked, never the route its browser wrote; an owner keeps its own', async () => {
      const sent = (browser: SignedInBrowser) =>
        request(gw.url)
          .get('/backend-api/models?history_and_training_disabled=false')
          .set(browser.bearer)
          .set('x-openai-target-path', '/backend-api/conversations')
          .set('x-openai-target-route', '/backend-api/conversation/{conversation_id}');
      const last = () => gw.fake.requests.filter((r) => r.path === '/backend-api/models').at(-1)!;
      expect((await sent(seedA)).status).toBe(200);
      expect(last().headers['x-openai-target-path']).toBe('/backend-api/models');
      expect(last().headers['x-openai-target-route']).toBeUndefined();
      expect((await sent(owner)).status).toBe(200);
      expect(last().headers['x-openai-target-path']).toBe('/backend-api/conversations');
      expect(last().headers['x-openai-target-route']).toBe('/backend-api/conversation/{conversation_id}');
    });
  });

  describe('conversation isolation between two seeds on one account', () => {
    beforeAll(async () => {
      const a = await post(seedA, 'seed A speaks');
      expect(a.status).toBe(200);
      conversationA = conversationIdIn(a.text);
      const b = await post(seedB, 'seed B speaks');
      expect(b.status).toBe(200);
      conversationB = conversationIdIn(b.text);
    });

    it('records each seed conversation in the store, by the stream that created it', async () => {
      const seeds = gw.app.get(SeedRegistry);
      expect(await seeds.seedConversations(SEED_A)).toEqual([conversationA]);
      expect(await seeds.seedConversations(SEED_B)).toEqual([conversationB]);
    });

    it('lists only the seed its own conversations, with the total counted', async () => {
      const listA = await request(gw.url).get('/backend-api/conversations?offset=0&limit=28').set(seedA.bearer).expect(200);
      expect(listA.body.items.map((item: { id: string }) => item.id)).toEqual([conversationA]);
      expect(listA.body.total).toBe(1);
      const listB = await request(gw.url).get('/backend-api/conversations').set(seedB.bearer).expect(200);
      expect(listB.body.items.map((item: { id: string }) => item.id)).toEqual([conversationB]);
      // The owner sees everything on the account.
      const ownerList = await request(gw.url).get('/backend-api/conversations').set(owner.bearer).expect(200);
      expect(ownerList.body.items.map((item: { id: string }) => item.id).sort()).toEqual(
        [ownerConversation, conversationA, conversationB].sort(),
      );
    });

    it("answers 404 for another seed's or the owner's conversation: open, rename, delete, continue, share, download", async () => {
      for (const other of [conversationB, ownerConversation]) {
        const before = gw.fake.requests.length;
        const answers = [
          await request(gw.url).get(`/backend-api/conversation/${other}`).set(seedA.bearer),
          await request(gw.url).get(`/backend-api/conversation/${other.toUpperCase()}`).set(seedA.bearer),
          await request(gw.url).get(`/backend-api/conversations/${other}?num_turns=10`).set(seedA.bearer),
          await request(gw.url).patch(`/backend-api/conversation/${other}`).set(seedA.bearer).send({ title: 'mine now' }),
          await request(gw.url).patch(`/backend-api/conversation/${other}`).set(seedA.bearer).send({ is_visible: false }),
          await request(gw.url)
            .get(`/backend-api/conversation/${other}/interpreter/download?message_id=m&sandbox_path=/x`)
            .set(seedA.bearer),
          await post(seedA, 'continue theirs', other),
          await request(gw.url).post('/backend-api/share/create').set(seedA.bearer).send({ conversation_id: other, current_node_id: 'x' }),
          await request(gw.url).get(`/backend-api/files/download/file-1?conversation_id=${other}`).set(seedA.bearer),
          // The 2026 app's rename and delete (gateway-live-ui.md §2), and the posts naming it in their body.
          await request(gw.url).delete(`/backend-api/conversation/id/${other}`).set(seedA.bearer),
          await request(gw.url).post(`/backend-api/conversation/id/${other}/rename`).set(seedA.bearer).send({ title: 'mine now' }),
          await request(gw.url).post('/backend-api/stop_conversation').set(seedA.bearer).send({ conversation_id: other }),
          await request(gw.url)
            .post('/backend-api/conversation/message_feedback')
            .set(seedA.bearer)
            .send({ conversation_id: other, message_id: 'm', rating: 'thumbsDown' }),
        ];
        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 404));
        expect(answers[0].body.error.code).toBe('conversation_not_found');
        // Bodies this parser cannot read (another parser might), and a second conversation_id in the query.
        const raw = JSON.stringify(conversationBody('continue theirs', other));
        const odd = [
          await request(gw.url)
            .post('/backend-api/conversation')
            .set(seedA.bearer)
            .set('content-type', 'application/json')
            .send(`${raw.slice(0, -1)},"x":NaN}`),
          await request(gw.url)
            .post('/backend-api/conversation')
            .set(seedA.bearer)
            .set('content-type', 'application/json')
            .send(`\ufeff${raw}`),
          await request(gw.url)
            .post('/backend-api/conversation')
            .set(seedA.bearer)
            .set('content-type', 'application/json')
            .send(JSON.stringify({ ...conversationBody('x'), conversation_id: [other] })),
        ];
        expect(odd.map((answer) => answer.status)).toEqual([400, 400, 400]);
        expect(odd[0].body.error.code).toBe('invalid_json');
        const twice = await request(gw.url)
          .get(`/backend-api/files/download/file-1?conversation_id=${conversationA}&conversation_id=${other}`)
          .set(seedA.bearer);
        expect(twice.status).toBe(404);
        expect(gw.fake.requests.length).toBe(before);
      }
      // Untouched upstream.
      const ownerView = await request(gw.url).get(`/backend-api/conversation/${conversationB}`).set(owner.bearer).expect(200);
      expect(ownerView.body.title).not.toBe('mine now');
    });

    it("sends a seed to a new chat from another's conversation page, which is never fetched as the account", async () => {
      const before = gw.fake.requests.length;
      for (const other of [conversationB, ownerConversation]) {
        for (const path of [`/c/${other}`, `/c/${other.toUpperCase()}/`, `//c/${other}?x=1`, `/g/g-some-gpt/c/${other}`]) {
          const page = await request(gw.url).get(path).set('Cookie', seedA.cookie).redirects(0);
          expect([path, page.status, page.headers.location]).toEqual([path, 302, '/']);
        }
      }
      const pagesFetched = gw.fake.requests.slice(before).filter((seen) => /\/c\//i.test(seen.path));
      expect(pagesFetched.map((seen) => seen.path)).toEqual([]);
      const own = await request(gw.url).get(`/c/${conversationA}`).set('Cookie', seedA.cookie).redirects(0);
      expect(own.status).toBe(200);
      expect(gw.fake.requests.some((seen) => seen.path === `/c/${conversationA}`)).toBe(true);
    });

    it("sends a seed to a new chat from the account's own pages (library, tasks, projects, its GPTs), never fetched as the account", async () => {
      const before = gw.fake.requests.length;
      const accountPages = [
        '/library',
        '/library/files',
        '/images',
        '/tasks',
        '/tasks/abc',
        '/project/abc',
        '/ccc/abc',
        '/gpts/mine',
        '/gpts/editor/g-abc123',
        '/g/g-p-0123456789abcdef0123456789abcdef-trip/project',
        '/g/G-P-0123456789abcdef0123456789abcdef',
      ];
      for (const path of accountPages) {
        const page = await request(gw.url).get(path).set('Cookie', seedA.cookie).redirects(0);
        expect([path, page.status, page.headers.location]).toEqual([path, 302, '/']);
      }
      expect(gw.fake.requests.slice(before).map((seen) => seen.path)).toEqual([]);
      // A public GPT's page and the store still open.
      for (const path of ['/g/g-2fkFE8rbu-dall-e', '/gpts']) {
        const page = await request(gw.url).get(path).set('Cookie', seedA.cookie).redirects(0);
        expect([path, page.status]).toEqual([path, 200]);
      }
      // An owner opens them as ever.
      expect((await request(gw.url).get('/library').set('Cookie', owner.cookie).redirects(0)).status).toBe(200);
    });

    it("reads the seed's conversations once for a list of ids, however long the list", async () => {
      const read = jest.spyOn(gw.app.get(SeedRegistry), 'conversationsOfSeedId');
      try {
        const ids = Array.from({ length: 500 }, (_, index) => (index % 2 ? conversationA.toUpperCase() : conversationA));
        await request(gw.url).post('/backend-api/conversations/batch').set(seedA.bearer).send({ conversation_ids: ids });
        expect(gw.fake.requests.at(-1)).toMatchObject({ path: '/backend-api/conversations/batch' });
        expect(read).toHaveBeenCalledTimes(1);
      } finally {
        read.mockRestore();
      }
    });

    it("never lists the account's files, nor fetches another's conversations by a list of ids", async () => {
      const before = gw.fake.requests.length;
      for (const path of ['/backend-api/files?limit=50', '/backend-api/files/recent?limit=10', '/backend-api/Files/library']) {
        const files = await request(gw.url).get(path).set(seedA.bearer);
        expect([path, files.status, files.body]).toEqual([path, 200, { items: [], cursor: null }]);
      }
      for (const ids of [[conversationB], [conversationA, ownerConversation]]) {
        const batch = await request(gw.url).post('/backend-api/conversations/batch').set(seedA.bearer).send({ conversation_ids: ids });
        expect(batch.status).toBe(404);
      }
      expect(
        (await request(gw.url).post('/backend-api/conversations/batch').set(seedA.bearer).send({ conversation_ids: 'x' })).status,
      ).toBe(400);
      expect(
        (await request(gw.url).get(`/backend-api/conversations/batch?conversation_ids=${conversationB}`).set(seedA.bearer)).status,
      ).toBe(403);
      expect(gw.fake.requests.length).toBe(before);
      await request(gw.url)
        .post('/backend-api/conversations/batch')
        .set(seedA.bearer)
        .send({ conversation_ids: [conversationA] });
      expect(gw.fake.requests.at(-1)).toMatchObject({
        path: '/backend-api/conversations/batch',
        body: { conversation_ids: [conversationA] },
      });
    });

    it('opens, continues, renames and deletes its own', async () => {
      const detail = await request(gw.url).get(`/backend-api/conversation/${conversationA}`).set(seedA.bearer).expect(200);
      expect(detail.body.conversation_id).toBe(conversationA);
      // As the 2026 web app opens it (gateway-live-ui.md §2).
      const newer = await request(gw.url).get(`/backend-api/conversations/${conversationA}?num_turns=10`).set(seedA.bearer).expect(200);
      expect(newer.body.conversation_id).toBe(conversationA);
      expect((await post(seedA, 'and again', conversationA)).status).toBe(200);
      await request(gw.url)
        .patch(`/backend-api/conversation/${conversationA}`)
        .set(seedA.bearer)
        .send({ title: 'Renamed by A' })
        .expect(200);
      const list = await request(gw.url).get('/backend-api/conversations').set(seedA.bearer).expect(200);
      expect(list.body.items[0]).toMatchObject({ id: conversationA, title: 'Renamed by A' });
      await request(gw.url).patch(`/backend-api/conversation/${conversationA}`).set(seedA.bearer).send({ is_visible: false }).expect(200);
      expect((await request(gw.url).get('/backend-api/conversations').set(seedA.bearer).expect(200)).body).toMatchObject({
        items: [],
        total: 0,
      });
      // B's list is as it was.
      expect((await request(gw.url).get('/backend-api/conversations').set(seedB.bearer)).body.total).toBe(1);
    });
  });

  describe('the WebSocket hand-off of a seed', () => {
    let stub: WebSocketServer;
    let upstreamFrames: string[];

    beforeAll(async () => {
      // An upstream socket that answers each frame with an account-wide event naming the owner's conversation, as
      // the `conversations` topic the web app subscribes to would (the fake publishes only turn topics).
      upstreamFrames = [];
      stub = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((resolve) => stub.once('listening', resolve));
      stub.on('connection', (socket) =>
        socket.on('message', (data) => {
          upstreamFrames.push(textOf(data));
          socket.send(JSON.stringify({ type: 'message', topic: 'conversations', payload: { conversation_id: ownerConversation } }));
          // The same event without its topic.
          socket.send(JSON.stringify({ type: 'message', payload: { conversation_id: ownerConversation, title: 'the owner’s' } }));
          socket.send(JSON.stringify({ type: 'ack', about: POOL.email }));
        }),
      );
    });
    afterAll(async () => {
      gw.fake.webApp.unplace('/backend-api/celsius/ws/user');
      await new Promise((resolve) => stub.close(resolve));
    });

    it("neither subscribes a seed to the account's topics nor gives it a conversation named in a frame", async () => {
      gw.fake.webApp.place('/backend-api/celsius/ws/user', {
        contentType: 'application/json',
        body: JSON.stringify({ websocket_url: `ws://127.0.0.1:${(stub.address() as AddressInfo).port}/ws/user?verify=x` }),
      });
      await request(gw.url).get(`/backend-api/conversation/${ownerConversation}`).set(seedB.bearer).expect(404);
      const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedB.bearer).expect(200);
      const received = await new Promise<string[]>((resolve, reject) => {
        const frames: string[] = [];
        const socket = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seedB.cookie } });
        socket.on('open', () => {
          socket.send(JSON.stringify({ type: 'subscribe', topic: 'conversations' }));
          // Another verb, naming its topic in a field the bridge does not read.
          socket.send(JSON.stringify({ type: 'join', channel: 'conversations' }));
          socket.send(JSON.stringify({ type: 'subscribe', topic: `conversation-${ownerConversation}` }));
          socket.send(JSON.stringify({ type: 'subscribe', topic: `conversation-${conversationB}` }));
        });
        socket.on('message', (data) => {
          frames.push(textOf(data));
          socket.close();
        });
        socket.on('close', () => resolve(frames));
        socket.on('error', reject);
      });

      // Only the subscription to its own conversation went upstream; what came back on the account's topic did not.
      expect(upstreamFrames).toEqual([JSON.stringify({ type: 'subscribe', topic: `conversation-${conversationB}` })]);
      expect(received).toEqual([JSON.stringify({ type: 'ack', about: 'user@flowgpt.invalid' })]);
      await request(gw.url).get(`/backend-api/conversation/${ownerConversation}`).set(seedB.bearer).expect(404);
      const list = await request(gw.url).get('/backend-api/conversations').set(seedB.bearer).expect(200);
      expect(list.body.items.map((item: { id: string }) => item.id)).not.toContain(ownerConversation);
    });

    it('gives a seed a frame without a topic only when it names one of its own conversations, in whatever field', async () => {
      const odd = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((resolve) => odd.once('listening', resolve));
      const theirs = [
        { type: 'conversation_updated', data: { id: ownerConversation, title: 'the owner’s' } },
        { type: 'message', payload: { items: [{ meta: { conversation_id: conversationA } }] } },
        { type: 'title_generated', title: 'a title of nobody in particular' },
      ];
      const own = { type: 'conversation_updated', data: { id: conversationB, title: 'mine' } };
      odd.on('connection', (socket) =>
        socket.once('message', () => {
          for (const fields of [...theirs, own, { type: 'pong' }]) socket.send(JSON.stringify(fields));
        }),
      );
      gw.fake.webApp.place('/backend-api/celsius/ws/user', {
        contentType: 'application/json',
        body: JSON.stringify({ websocket_url: `ws://127.0.0.1:${(odd.address() as AddressInfo).port}/ws/user?verify=x` }),
      });
      try {
        const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedB.bearer).expect(200);
        const received = await new Promise<string[]>((resolve, reject) => {
          const frames: string[] = [];
          const socket = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seedB.cookie } });
          socket.on('open', () => socket.send(JSON.stringify({ type: 'connect' })));
          socket.on('message', (data) => {
            frames.push(textOf(data));
            if (frames.at(-1)?.includes('pong')) socket.close();
          });
          socket.on('close', () => resolve(frames));
          socket.on('error', reject);
        });
        expect(received.map((text) => JSON.parse(text) as unknown)).toEqual([own, { type: 'pong' }]);
      } finally {
        gw.fake.webApp.unplace('/backend-api/celsius/ws/user');
        await new Promise((resolve) => odd.close(resolve));
      }
    });

    it('gives a seed every frame the upstream sent before it closed, then the close, even while a frame waits for the store', async () => {
      const closing = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((resolve) => closing.once('listening', resolve));
      // A frame naming a file is recorded (a write to the store) before it goes on; the close comes right after it.
      const frames = [1, 2, 3].map((n) => ({
        type: 'conversation_updated',
        conversation_id: conversationB,
        image: { asset_pointer: `sediment://file_00000000c10e00000000000000000${n}` },
      }));
      closing.on('connection', (socket) =>
        socket.once('message', () => {
          for (const fields of frames) socket.send(JSON.stringify(fields));
          socket.close(4001, 'going away');
        }),
      );
      gw.fake.webApp.place('/backend-api/celsius/ws/user', {
        contentType: 'application/json',
        body: JSON.stringify({ websocket_url: `ws://127.0.0.1:${(closing.address() as AddressInfo).port}/ws/user?verify=x` }),
      });
      try {
        const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedB.bearer).expect(200);
        const seen = await new Promise<{ frames: string[]; code: number }>((resolve, reject) => {
          const received: string[] = [];
          const socket = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seedB.cookie } });
          socket.on('open', () => socket.send(JSON.stringify({ type: 'connect' })));
          socket.on('message', (data) => received.push(textOf(data)));
          socket.on('close', (code) => resolve({ frames: received, code }));
          socket.on('error', reject);
        });
        expect({ frames: seen.frames.map((text) => JSON.parse(text) as unknown), code: seen.code }).toEqual({ frames, code: 4001 });
      } finally {
        gw.fake.webApp.unplace('/backend-api/celsius/ws/user');
        await new Promise((resolve) => closing.close(resolve));
      }
    });

    it("follows the seed's own thinking turn through the bridge", async () => {
      gw.fake.webApp.unplace('/backend-api/celsius/ws/user');
      const posted = await request(gw.url)
        .post('/backend-api/conversation')
        .set(seedB.bearer)
        .send({ ...conversationBody('think it over'), model: 'o3', supported_encodings: ['v1'] })
        .expect(200);
      const stub = JSON.parse(/^data: (\{"type":\s*"stream_handoff".*)$/m.exec(posted.text)![1]) as { options: { topic_id: string } };
      const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedB.bearer).expect(200);
      const text = await new Promise<string>((resolve, reject) => {
        let frames = '';
        const socket = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seedB.cookie } });
        socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', topic: stub.options.topic_id })));
        socket.on('message', (data) => {
          frames += textOf(data);
          if (frames.includes('[DONE]') || frames.includes('finished_successfully')) socket.close();
        });
        socket.on('close', () => resolve(frames));
        socket.on('error', reject);
      });
      expect(text).toContain(stub.options.topic_id);
      expect(text).toContain('encoded_item');
    });

    it("does not let a seed follow another seed's thinking turn, whose topic it has seen or guessed", async () => {
      gw.fake.webApp.unplace('/backend-api/celsius/ws/user');
      const posted = await request(gw.url)
        .post('/backend-api/conversation')
        .set(seedB.bearer)
        .send({ ...conversationBody('think it over, privately'), model: 'o3', supported_encodings: ['v1'] })
        .expect(200);
      const stubB = JSON.parse(/^data: (\{"type":\s*"stream_handoff".*)$/m.exec(posted.text)![1]) as { options: { topic_id: string } };
      const subscriptionsBefore = gw.fake.handoff.stats.subscriptions.length;
      const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedA.bearer).expect(200);
      const received = await new Promise<string[]>((resolve, reject) => {
        const frames: string[] = [];
        const socket = new WebSocket(String(handOff.body.websocket_url), { headers: { cookie: seedA.cookie } });
        socket.on('open', () => {
          socket.send(JSON.stringify({ type: 'subscribe', topic: stubB.options.topic_id }));
          // Answered once what came before it has gone upstream (or not).
          socket.send(JSON.stringify({ type: 'connect' }));
        });
        socket.on('message', (data) => {
          frames.push(textOf(data));
          socket.close();
        });
        socket.on('close', () => resolve(frames));
        socket.on('error', reject);
      });
      expect(received).toEqual([JSON.stringify({ type: 'connected' })]);
      expect(gw.fake.handoff.stats.subscriptions.slice(subscriptionsBefore)).toEqual([]);
    });
  });

  describe('the resume of a handed-off turn', () => {
    it("does not let a seed resume another seed's turn, nor a turn whose conversation it does not name", async () => {
      const posted = await request(gw.url)
        .post('/backend-api/conversation')
        .set(seedB.bearer)
        .send({ ...conversationBody('think it over again'), model: 'o3', supported_encodings: ['v1'] })
        .expect(200);
      const stubB = JSON.parse(/^data: (\{"type":\s*"stream_handoff".*)$/m.exec(posted.text)![1]) as {
        conversation_id: string;
        turn_exchange_id: string;
      };
      const mine = conversationIdIn((await post(seedA, 'a conversation of my own')).text);
      const resume = (browser: SignedInBrowser, body: Record<string, unknown>) =>
        request(gw.url).post('/backend-api/f/conversation/resume').set(browser.bearer).send(body);
      const before = gw.fake.requests.length;
      const answers = [
        await resume(seedA, { conversation_id: mine, turn_exchange_id: stubB.turn_exchange_id, offset: 0 }),
        await resume(seedA, { turn_exchange_id: stubB.turn_exchange_id, offset: 0 }),
        await resume(seedA, { conversation_id: mine, turn_exchange_id: [stubB.turn_exchange_id], offset: 0 }),
        await resume(seedA, { conversation_id: stubB.conversation_id, turn_exchange_id: stubB.turn_exchange_id, offset: 0 }),
      ];
      expect(answers.map((answer) => [answer.status, answer.body.error?.code])).toEqual(answers.map(() => [404, 'conversation_not_found']));
      expect(gw.fake.requests.length).toBe(before);
      // Its own seed resumes it.
      const own = await resume(seedB, { conversation_id: stubB.conversation_id, turn_exchange_id: stubB.turn_exchange_id, offset: 0 });
      expect(own.status).toBe(200);
    });
  });

  describe('file isolation between seeds on one account', () => {
    const upload = async (browser: SignedInBrowser): Promise<string> => {
      const created = await request(gw.url)
        .post('/backend-api/files')
        .set(browser.bearer)
        .send({ file_name: 'notes.txt', file_size: 5, use_case: 'my_files' })
        .expect(200);
      return String(created.body.file_id);
    };
    const get = (browser: SignedInBrowser, path: string) => request(gw.url).get(path).set(browser.bearer);
    /** One of seed A's conversations (the first is deleted by now). */
    let filesConversation: string;

    beforeAll(async () => {
      filesConversation = conversationIdIn((await post(seedA, 'about my files')).text);
    });

    it("answers 404 for another seed's or the owner's file by any route that names it, and passes the seed's own upload", async () => {
      const mine = await upload(seedA);
      const theirs = await upload(seedB);
      const owners = await upload(owner);
      for (const other of [theirs, owners]) {
        const before = gw.fake.requests.length;
        const answers = [
          await get(seedA, `/backend-api/files/${other}/download`),
          await get(seedA, `/backend-api/files/${other}`),
          await get(seedA, `/backend-api/files/download/${other}?conversation_id=${filesConversation}&inline=false`),
          await get(seedA, `/backend-api/files/${other.toUpperCase()}/download`),
          await get(seedA, `/backend-api/estuary/content?id=${other}&ts=1&p=fs&sig=x`),
          await get(seedA, `/backend-api/estuary/content?id=${mine}&id=${other}`),
          await get(seedA, '/backend-api/estuary/content?ts=1'),
          await get(seedA, `/backend-api/conversation/${filesConversation}/attachment/${other}/download`),
          await get(seedA, `/backend-api/some_new_route/${other}`),
          await get(seedA, `/backend-api/some_new_route?asset=${encodeURIComponent(`file-service://${other}`)}`),
          await request(gw.url).post(`/backend-api/files/${other}/uploaded`).set(seedA.bearer).send({}),
          // Its own conversation, given another's file to read.
          await request(gw.url)
            .post('/backend-api/conversation')
            .set(seedA.bearer)
            .send({
              ...conversationBody('summarise the attachment', filesConversation),
              messages: [
                {
                  id: 'aaaaaaaa-0000-4000-8000-000000000002',
                  author: { role: 'user' },
                  content: { content_type: 'text', parts: ['summarise the attachment'] },
                  metadata: { attachments: [{ id: other, name: 'notes.txt' }] },
                },
              ],
            }),
          await request(gw.url)
            .post('/backend-api/conversation')
            .set(seedA.bearer)
            .send({
              ...conversationBody('x', filesConversation),
              messages: [
                {
                  id: 'aaaaaaaa-0000-4000-8000-000000000003',
                  author: { role: 'user' },
                  content: {
                    content_type: 'multimodal_text',
                    parts: [{ content_type: 'image_asset_pointer', asset_pointer: `file-service://${other}` }, 'what is this?'],
                  },
                },
              ],
            }),
          await request(gw.url)
            .post('/backend-api/some_new_route')
            .set(seedA.bearer)
            .send({ deep: [{ file: ` ${other}` }] }),
        ];
        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 404));
        expect(answers[0].body).toEqual({
          error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'file_not_found' },
        });
        expect(gw.fake.requests.length).toBe(before);
      }
      expect((await get(seedA, `/backend-api/files/${mine}/download`)).status).toBe(200);
      expect((await get(seedA, `/backend-api/files/${mine}`)).status).toBe(200);
      expect((await get(seedB, `/backend-api/files/${theirs}/download`)).status).toBe(200);
      expect((await get(seedB, `/backend-api/files/${mine}/download`)).status).toBe(404);
      // The owner is not a seed: every file of the account is theirs.
      expect((await get(owner, `/backend-api/files/${mine}/download`)).status).toBe(200);
    });

    it('lets a seed write a message that is only a word shaped like a file id: what it types is text, not a file', async () => {
      for (const text of ['file-handling', 'file_uploads', ' file-downloads '])
        expect((await post(seedA, text, filesConversation)).status).toBe(200);
    });

    it('refuses a JSON write spelt in UTF-16 or UTF-32, which the upstream may read, rather than pass the ids in it unchecked', async () => {
      const theirs = await upload(seedB);
      const project = 'g-p-0123456789abcdef0123456789abcdef';
      const utf32 = (text: string) => Buffer.concat([...text].map((char) => Buffer.from([char.charCodeAt(0), 0, 0, 0])));
      const bodies = [
        Buffer.from(JSON.stringify({ file_id: theirs }), 'utf16le'),
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify({ file_id: theirs }), 'utf16le')]),
        Buffer.from(JSON.stringify({ file_id: theirs }), 'utf16le').swap16(),
        utf32(JSON.stringify({ file_id: theirs })),
        Buffer.from(JSON.stringify({ gizmo_id: project }), 'utf16le'),
      ];
      const before = gw.fake.requests.length;
      for (const type of ['application/json', ''])
        for (const body of bodies) {
          const answer = await request(gw.url)
            .post('/backend-api/files/process_upload_stream')
            .set(seedA.bearer)
            .set('content-type', type)
            // The bytes as they are, not the Buffer written as JSON.
            .serialize(((bytes: Buffer) => bytes) as unknown as (body: unknown) => string)
            .send(body);
          expect([type, answer.status, answer.body.error?.code]).toEqual([type, 400, 'invalid_json']);
        }
      expect(gw.fake.requests.length).toBe(before);
    });

    it("reads the seed's files once for a write naming many of them, not once per file", async () => {
      const mine = await Promise.all(Array.from({ length: 12 }, () => upload(seedA)));
      const store = gw.app.get<AccountStore>(ACCOUNT_STORE);
      const read = jest.spyOn(store, 'getSeed');
      try {
        await request(gw.url)
          .post('/backend-api/conversation')
          .set(seedA.bearer)
          .send({
            ...conversationBody('compare these', filesConversation),
            messages: [
              {
                id: 'aaaaaaaa-0000-4000-8000-000000000004',
                author: { role: 'user' },
                content: { content_type: 'text', parts: ['compare these'] },
                metadata: { attachments: mine.map((id) => ({ id, name: 'notes.txt' })) },
              },
            ],
          });
        // Passed on (the fake wants the uploads finished, which these are not: it is enough that they reach it).
        expect(gw.fake.requests.at(-1)).toMatchObject({ path: '/backend-api/conversation' });
        // The session's own look-ups and the conversation's record aside: not one read per attachment.
        expect(read.mock.calls.length).toBeLessThan(mine.length);
      } finally {
        read.mockRestore();
      }
    });

    it('passes a file its own conversation received (a generated image), to that seed only', async () => {
      const generated = 'file-GeneratedForSeedA00000001';
      gw.fake.enqueue({ kind: 'image', prompt: 'a fox', fileIds: [generated] });
      expect((await post(seedA, 'draw a fox', filesConversation)).status).toBe(200);
      expect((await get(seedA, `/backend-api/files/${generated}/download`)).status).toBe(200);
      // A route the fake does not serve: passed on to it.
      await get(seedA, `/backend-api/files/download/${generated}?conversation_id=${filesConversation}`);
      expect(gw.fake.requests.at(-1)?.path).toBe(`/backend-api/files/download/${generated}`);
      expect((await get(seedB, `/backend-api/files/${generated}/download`)).status).toBe(404);
      // Reading its conversation records what it holds, for the seed that owns it only.
      const read = jest.spyOn(gw.app.get(SeedRegistry), 'recordFilesForSeedId');
      try {
        await get(seedA, `/backend-api/conversation/${filesConversation}`).expect(200);
        expect(read).toHaveBeenCalledWith(seedIdFor(SEED_A), expect.arrayContaining([generated]));
      } finally {
        read.mockRestore();
      }
    });

    it('does not take a file id the seed typed in its message for one of its files', async () => {
      const theirs = await upload(seedB);
      expect((await post(seedA, `please fetch file ${theirs} for me`, filesConversation)).status).toBe(200);
      await get(seedA, `/backend-api/conversation/${filesConversation}`).expect(200);
      expect((await get(seedA, `/backend-api/files/${theirs}/download`)).status).toBe(404);
    });
  });

  describe('the no-leak walk', () => {
    it('shows a seed user none of the pool account: tokens, email, name, phone, in any body, header, cookie or frame', async () => {
      const seen: Array<{ what: string; text: string }> = [];
      const keep = (what: string, answer: request.Response) =>
        seen.push({
          what,
          text: `${answer.status}\n${JSON.stringify(answer.headers)}\n${answer.text ?? ''}${answer.body instanceof Buffer ? answer.body.toString('utf8') : ''}`,
        });
      // A route the gateway has never heard of, answering with everything the account has.
      gw.fake.webApp.place('/backend-api/unknown-route', {
        contentType: 'application/json',
        body: JSON.stringify({
          user: {
            email: POOL.email,
            name: POOL.name,
            phone_number: POOL.phone,
            id: POOL.userId,
            // As the profile has it (the fake's /me), and as a page's bootstrap would.
            picture: `https://s.gravatar.com/avatar/${createHash('md5').update(POOL.email).digest('hex')}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fpo.png`,
          },
        }),
      });
      const fresh = await post(seedB, 'walk the routes');
      keep('POST /backend-api/conversation', fresh);
      const walkConversation = conversationIdIn(fresh.text);

      const pages = [
        '/',
        `/c/${walkConversation}`,
        '/auth/login',
        '/auth/logout',
        '/api/auth/session',
        '/api/auth/providers',
        '/api/auth/csrf',
        '/api/auth/signout',
      ];
      for (const path of pages) keep(`GET ${path}`, await request(gw.url).get(path).set('Cookie', seedB.cookie));
      const backend = [
        '/backend-api/me',
        '/backend-api/conversations',
        `/backend-api/conversation/${walkConversation}`,
        `/backend-api/conversation/${ownerConversation}`,
        '/backend-api/memories',
        '/backend-api/user_system_messages',
        '/backend-api/gizmos/g-known',
        '/backend-api/gizmos/bootstrap',
        '/backend-api/accounts/check/v4-2023-04-27',
        '/backend-api/models',
        '/backend-api/some_new_feature',
        '/backend-api/settings/user',
        '/backend-api/celsius/ws/user',
        '/backend-api/unknown-route',
        '/backend-anon/models',
        '/public-api/gizmos/discovery/recent',
        '/ces/v1/projects/oai/settings',
        `/cdn/assets/${APP_SCRIPT}`,
        `/assets/${APP_SCRIPT}`,
      ];
      for (const path of backend) keep(`GET ${path}`, await request(gw.url).get(path).set(seedB.bearer).set('Cookie', seedB.cookie));
      keep('POST settings', await request(gw.url).post('/backend-api/settings/account_user_setting').set(seedB.bearer).send({}));
      keep(
        'POST requirements',
        await request(gw.url).post('/backend-api/sentinel/chat-requirements').set(seedB.bearer).send({ p: 'gAAAAACx' }),
      );

      // The WebSocket hand-off: our URL, and the frames that come through it.
      const handOff = await request(gw.url).get('/backend-api/celsius/ws/user').set(seedB.bearer).expect(200);
      const socketUrl = String(handOff.body.websocket_url);
      expect(socketUrl.startsWith(gw.url.replace(/^http/, 'ws'))).toBe(true);
      const frames = await new Promise<string[]>((resolve, reject) => {
        const received: string[] = [];
        const socket = new WebSocket(socketUrl, { headers: { cookie: seedB.cookie } });
        socket.on('upgrade', (answer) => received.push(JSON.stringify(answer.headers)));
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connect' })));
        socket.on('message', (data) => {
          received.push((Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8'));
          socket.close();
        });
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(frames.length).toBeGreaterThan(1);
      seen.push({ what: 'WebSocket', text: frames.join('\n') });

      // The account's picture names its email too: Gravatar's is the MD5 of the address, which anyone can check a guess against.
      const pictureHash = createHash('md5').update(POOL.email).digest('hex');
      const secrets = [...poolAccessTokens(), refreshToken, POOL.email, POOL.name, POOL.phone, POOL.userId, pictureHash];
      expect(secrets.length).toBeGreaterThan(6);
      const leaks = seen.flatMap(({ what, text }) =>
        secrets.filter((secret) => text.includes(secret)).map((secret) => `${what}: ${secret.slice(0, 12)}…`),
      );
      expect(leaks).toEqual([]);
      // The walk did reach the routes (not a wall of refusals).
      expect(seen.filter(({ text }) => text.startsWith('200')).length).toBeGreaterThan(20);
    });

    it.each([
      ['an event stream on another path', 'text/event-stream', 'text/event-stream'],
      ['NDJSON', 'application/x-ndjson', '*/*'],
      ['text/json', 'text/json', '*/*'],
      ['XML', 'application/xml', '*/*'],
      ['no content type at all', '', '*/*'],
    ])("rewrites the account's identifiers in %s", async (_what, contentType, accept) => {
      const record = (n: number) => JSON.stringify({ n, email: POOL.email, name: POOL.name, id: POOL.userId });
      const body = contentType === 'text/event-stream' ? `data: ${record(1)}\n\ndata: ${record(2)}\n\n` : `${record(1)}\n${record(2)}\n`;
      gw.fake.webApp.place('/backend-api/some-textual-route', { contentType, body });
      try {
        const answer = await request(gw.url)
          .get('/backend-api/some-textual-route')
          .set(seedA.bearer)
          .set('accept', accept)
          .buffer(true)
          .parse((response, done) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => done(null, Buffer.concat(chunks).toString('utf8')));
          });
        expect(answer.status).toBe(200);
        const text = String(answer.body);
        expect(text).toContain('user@flowgpt.invalid');
        for (const secret of [POOL.email, POOL.name, POOL.userId]) expect(text).not.toContain(secret);
      } finally {
        gw.fake.webApp.unplace('/backend-api/some-textual-route');
      }
    });

    it("rewrites the account's identifiers in the headers of an upstream answer: a redirect's Location, an x- header", async () => {
      gw.fake.webApp.place('/backend-api/some-redirect', {
        status: 302,
        contentType: 'application/json',
        body: '{}',
        headers: {
          location: `https://chatgpt.com/auth/login?login_hint=${encodeURIComponent(POOL.email)}&email=${POOL.email}`,
          'x-account-user': POOL.userId,
        },
      });
      try {
        const answer = await request(gw.url).get('/backend-api/some-redirect').set(seedA.bearer).redirects(0);
        expect(answer.status).toBe(302);
        const headers = JSON.stringify(answer.headers);
        for (const secret of [POOL.email, encodeURIComponent(POOL.email), POOL.userId]) expect(headers).not.toContain(secret);
        expect(answer.headers['x-account-user']).toBe('user-flowgpt');
      } finally {
        gw.fake.webApp.unplace('/backend-api/some-redirect');
      }
    });
  });

  describe('a seed whose account dies', () => {
    it('moves to another active account and keeps its conversation list', async () => {
      const before = await gw.app.get(SeedRegistry).seedConversations(SEED_B);
      expect(before.length).toBeGreaterThan(0);
      const second = gw.fake.createAccessToken({ email: 'second.pool.account@example.com' });
      await gw.upload([second]);
      const accounts = await request(gw.url).get('/admin/api/tokens').set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`).expect(200);
      const dying = (accounts.body.data as Array<{ id: string; kind: string }>).find((account) => account.kind === 'refresh_token');
      await request(gw.url).delete(`/admin/api/tokens/${dying?.id}`).set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`).expect(200);

      const models = await request(gw.url).get('/backend-api/models').set(seedB.bearer);
      expect(models.status).toBe(200);
      expect(gw.fake.requests[gw.fake.requests.length - 1].headers.authorization).toBe(`Bearer ${second}`);
      expect(await gw.app.get(SeedRegistry).seedConversations(SEED_B)).toEqual(before);
      expect((await request(gw.url).get('/backend-api/me').set(seedB.bearer).expect(200)).body.email).not.toContain('second.pool');
    });

    it('is set aside when the sentinel the gateway solves for the seed (NO_SENTINEL) finds it deactivated', async () => {
      const bound = String(gw.fake.requests[gw.fake.requests.length - 1].headers.authorization).replace(/^Bearer /, '');
      gw.fake.setTokenStatus(bound, 403);
      const answer = await post(seedB, 'still there?');
      expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 403, code: 'sentinel_failed' });
      const accounts = await request(gw.url).get('/admin/api/tokens').set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`).expect(200);
      expect(accounts.body.data).toEqual([
        expect.objectContaining({
          email: 'second.pool.account@example.com',
          state: 'disabled',
          stateReason: expect.stringContaining('deactivated'),
        }),
      ]);
    });
  });
});

describe('browser gateway: what the upstream says about a seed’s pool account reaches the pool', () => {
  let gw: SignedInGatewayStack;
  const pool = { first: '', second: '', third: '' };
  let seed: SignedInBrowser;

  const accounts = async () => {
    const list = await request(gw.url).get('/admin/api/tokens').set('Authorization', `Bearer ${GATEWAY_ADMIN_KEY}`).expect(200);
    return list.body.data as Array<{ id: string; email?: string; state: string; stateReason?: string }>;
  };
  const stateOf = async (email: string) => (await accounts()).find((account) => account.email === email);
  /** The AccessToken the seed's calls run as right now, as the fake saw it. */
  const seedAccessToken = async () => {
    await request(gw.url).get('/backend-api/models').set(seed.bearer).expect(200);
    return String(gw.fake.requests[gw.fake.requests.length - 1].headers.authorization).replace(/^Bearer /, '');
  };
  const requirements = () => request(gw.url).post('/backend-api/sentinel/chat-requirements').set(seed.bearer).send({ p: 'not-solved' });

  beforeAll(async () => {
    gw = await startSignedInGateway();
    pool.first = gw.fake.createAccessToken({ email: 'first.pool@example.com' });
    pool.second = gw.fake.createAccessToken({ email: 'second.pool@example.com' });
    await gw.upload([pool.first, pool.second]);
    seed = await gw.signIn('seed-judged-0001');
  });
  afterAll(() => gw?.close());

  it('sets an account the upstream calls deactivated (403) aside, and the seed moves to another one', async () => {
    const bound = await seedAccessToken();
    const email = bound === pool.first ? 'first.pool@example.com' : 'second.pool@example.com';
    gw.fake.setTokenStatus(bound, 403);
    expect((await requirements()).status).toBe(403);
    expect(await stateOf(email)).toMatchObject({ state: 'disabled', stateReason: expect.stringContaining('deactivated') });
    expect(await seedAccessToken()).toBe(bound === pool.first ? pool.second : pool.first);
  });

  it("takes a 429 on the seed's conversation sentinel as the account's rate limit", async () => {
    const bound = await seedAccessToken();
    const email = bound === pool.first ? 'first.pool@example.com' : 'second.pool@example.com';
    gw.fake.setTokenStatus(bound, 429, { clearsInSec: 600 });
    expect((await requirements()).status).toBe(429);
    expect(await stateOf(email)).toMatchObject({ state: 'rate_limited' });
  });

  it("sets aside an AccessToken the upstream refuses (401) for a seed, never for an owner's own token", async () => {
    pool.third = gw.fake.createAccessToken({ email: 'third.pool@example.com' });
    await gw.upload([pool.third]);
    // The only account left for the seed; an owner signs in with the very same token, as their own.
    const owner = await gw.signIn(pool.third);
    gw.fake.revokeAccessToken(pool.third);
    const ownCall = await request(gw.url).get('/backend-api/models').set(owner.bearer);
    expect(ownCall.status).toBe(401);
    expect(await stateOf('third.pool@example.com')).toMatchObject({ state: 'active' });
    // The seed, moved there by the rate limit, finds it refused when it reads the profile: the pool hears it.
    expect((await request(gw.url).get('/backend-api/models').set(seed.bearer)).status).toBe(503);
    expect(await stateOf('third.pool@example.com')).toMatchObject({ state: 'disabled', stateReason: 'access token rejected' });
    const fourth = gw.fake.createAccessToken({ email: 'fourth.pool@example.com' });
    await gw.upload([fourth]);
    expect(await seedAccessToken()).toBe(fourth);
    // Its profile known, a refusal now comes through the proxy itself.
    gw.fake.revokeAccessToken(fourth);
    expect((await request(gw.url).get('/backend-api/models').set(seed.bearer)).status).toBe(401);
    expect(await stateOf('fourth.pool@example.com')).toMatchObject({ state: 'disabled', stateReason: 'access token rejected' });
  });
});
