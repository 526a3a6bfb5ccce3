import request from 'supertest';
import { GATEWAY_ADMIN_KEY, SignedInGatewayStack, startSignedInGateway } from './support/gateway-stack';

/**
 * A restart of a single instance without Redis (the file store under DATA_DIR) keeps what its users expect to keep:
 * browsers and admins stay signed in, and a pool conversation continues on the account it lives on.
 */
const POOL_KEY = 'restart-pool-key';

describe('state kept across a restart without Redis', () => {
  let stack: SignedInGatewayStack;

  beforeAll(async () => {
    stack = await startSignedInGateway({ env: { AUTHORIZATION: POOL_KEY, RANDOM_TOKEN: 'false', HISTORY_DISABLED: 'false' } });
  });
  afterAll(() => stack.close());

  it('keeps browser and admin sign-ins and conversation pins', async () => {
    const { fake } = stack;
    const [a, b, c] = [fake.createAccessToken(), fake.createAccessToken(), fake.createAccessToken()];
    await stack.upload([a, b, c]);
    const names: Record<string, string> = { [a]: 'A', [b]: 'B', [c]: 'C' };
    const accountsAnswering = () =>
      fake.conversationRequests().map((call) => names[String(call.headers.authorization).replace(/^Bearer /, '')] ?? 'other');

    const browser = await stack.signIn(fake.createAccessToken({ email: 'owner@example.com' }));
    const admin = await request(stack.url).post('/admin/login').type('form').send({ secret: GATEWAY_ADMIN_KEY }).expect(303);
    const adminCookie = String(admin.headers['set-cookie'][0]).split(';')[0];
    await request(stack.url).get('/admin').set('Cookie', adminCookie).expect(200);

    fake.reset();
    const first = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] })
      .expect(200);
    expect(first.body.conversation_id).toBeTruthy();

    await stack.stopApp();
    await stack.restartApp();

    // One comparison, so that a failure shows every piece that was lost.
    const session = await request(stack.url).get('/api/auth/session').set('Cookie', browser.cookie);
    const adminPage = await request(stack.url).get('/admin').set('Cookie', adminCookie);
    // A new conversation takes the rotation's next account, so that the continuation cannot land on A by its turn.
    await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello again' }] })
      .expect(200);
    const continued = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${POOL_KEY}`)
      .send({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'And then?' }],
        conversation_id: first.body.conversation_id,
        parent_message_id: first.body.message_id,
      });
    expect({
      session: session.body,
      adminPage: adminPage.status,
      continued: [continued.status, continued.body.conversation_id],
      accounts: [accountsAnswering()[0], accountsAnswering()[2]],
    }).toMatchObject({
      session: { accessToken: browser.standIn, user: { email: 'owner@example.com' } },
      adminPage: 200,
      continued: [200, first.body.conversation_id],
      accounts: ['A', 'A'],
    });

    // A new admin secret ends the sessions of the old one; the browser's sign-in is not the admin's.
    await stack.stopApp();
    await stack.restartApp({ ADMIN_KEY: 'another-admin-key-after-a-leak' });
    const afterRotation = await request(stack.url).get('/admin').set('Cookie', adminCookie);
    expect(afterRotation.status).toBe(303);
    expect(afterRotation.headers.location).toBe('/admin/login');
    await request(stack.url)
      .get('/api/auth/session')
      .set('Cookie', browser.cookie)
      .expect(200, /owner@example\.com/);
  });
});

describe('stored responses kept across a restart without Redis', () => {
  let stack: SignedInGatewayStack;

  beforeAll(async () => {
    stack = await startSignedInGateway({ env: { AUTHORIZATION: POOL_KEY } });
  });
  afterAll(() => stack.close());

  it('keeps stored responses, so that previous_response_id continues after a restart', async () => {
    const { fake } = stack;
    await stack.upload([fake.createAccessToken()]);
    const auth = `Bearer ${POOL_KEY}`;
    const first = await request(stack.url)
      .post('/v1/responses')
      .set('authorization', auth)
      .send({ model: 'gpt-4o', input: 'My name is Ada.' })
      .expect(200);

    await stack.stopApp();
    await stack.restartApp();

    const kept = await request(stack.url).get(`/v1/responses/${first.body.id}`).set('authorization', auth);
    const next = await request(stack.url)
      .post('/v1/responses')
      .set('authorization', auth)
      .send({ model: 'gpt-4o', input: 'What is my name?', previous_response_id: first.body.id });
    expect({ kept: [kept.status, kept.body.output_text ?? kept.body.output?.[0]?.content?.[0]?.text], next: next.status }).toEqual({
      kept: [200, first.body.output[0].content[0].text],
      next: 200,
    });
    // The continuation goes on in the upstream conversation, sending only the new input.
    expect(fake.conversationRequests().at(-1)!.body).toMatchObject({ conversation_id: expect.any(String), messages: [expect.anything()] });
  });
});
