import request from 'supertest';
import { FakeUpstream } from './fake-upstream/fake-upstream';
import { type Http2Front, startHttp2Front } from './support/http2-front';
import { type SelfSigned, selfSignedCertificate } from './support/self-signed';
import { expectCutStreamEnded, type Stack, startStack } from './support/stack';

jest.setTimeout(120_000);

const ask = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user' as const, content }] });

describe('the upstream over HTTPS and HTTP/2, as chatgpt.com is reached (UPSTREAM_HTTP2=auto)', () => {
  let fake: FakeUpstream;
  let tls: SelfSigned;
  let front: Http2Front;
  let stack: Stack;

  beforeAll(async () => {
    fake = await FakeUpstream.start();
    tls = selfSignedCertificate();
    front = await startHttp2Front(fake.url, tls);
    stack = await startStack({
      fakeUpstream: fake,
      // Its certificate is trusted through the file; the auth server (no RefreshToken here) stays the plain fake.
      env: { CHATGPT_BASE_URL: front.url, UPSTREAM_CA_FILE: tls.certFile },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await front?.close();
    await fake?.close();
    tls?.remove();
  });

  it('answers through the sentinel, the proof of work and the send flow, streamed or not, on two kept sessions', async () => {
    fake.setDefaultAnswer('Answered over HTTP/2.');
    const client = stack.openai(fake.createAccessToken());
    const whole = await client.chat.completions.create(ask('hi'));
    expect(whole.choices[0].message.content).toBe('Answered over HTTP/2.');
    let text = '';
    for await (const chunk of await client.chat.completions.create({ ...ask('hi'), stream: true }))
      text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Answered over HTTP/2.');
    // One session for the short calls (sentinel, page) and one for the answers, kept for everything after.
    expect(front.counts.sessions).toBe(2);
    const requestsBefore = front.counts.http2Requests;
    const answers = await Promise.all(Array.from({ length: 8 }, () => client.chat.completions.create(ask('again'))));
    expect(answers.map((answer) => answer.choices[0].message.content)).toEqual(Array(8).fill('Answered over HTTP/2.'));
    expect(front.counts.sessions).toBe(2);
    // At least the sentinel's and the conversation's calls of each chat.
    expect(front.counts.http2Requests - requestsBefore).toBeGreaterThanOrEqual(8 * 2);
    expect(front.counts.http1Requests).toBe(0);
  });

  it('passes an upstream refusal on as the client’s error', async () => {
    const bad = stack.openai('eyJhbGciOiJSUzI1NiJ9.bm90LWEtcmVhbC10b2tlbg.c2ln');
    await expect(bad.chat.completions.create(ask('x'))).rejects.toMatchObject({
      status: 401,
      error: { type: 'invalid_request_error', code: 'invalid_api_key' },
    });
  });

  it('ends an answer whose upstream stream is reset midway in OpenAI’s format, and the session carries on', async () => {
    const token = fake.createAccessToken();
    fake.enqueue({ kind: 'cut', text: 'This answer will be cut off in the middle of it', afterChunks: 3 });
    const raw = await request(stack.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${token}`)
      .send({ ...ask('cut'), stream: true });
    expectCutStreamEnded(raw.text);
    const sessions = front.counts.sessions;
    fake.setDefaultAnswer('Still here.');
    const next = await stack.openai(token).chat.completions.create(ask('next'));
    expect(next.choices[0].message.content).toBe('Still here.');
    expect(front.counts.sessions).toBe(sessions);
  });

  it('speaks HTTP/1.1 to the same upstream with UPSTREAM_HTTP2=off', async () => {
    await stack.stopApp();
    await stack.restartApp({ UPSTREAM_HTTP2: 'off' });
    fake.setDefaultAnswer('Answered over HTTP/1.1.');
    const http1Before = front.counts.http1Requests;
    const http2Before = front.counts.http2Requests;
    const answer = await stack.openai(fake.createAccessToken()).chat.completions.create(ask('hi'));
    expect(answer.choices[0].message.content).toBe('Answered over HTTP/1.1.');
    expect(front.counts.http1Requests - http1Before).toBeGreaterThanOrEqual(2);
    expect(front.counts.http2Requests).toBe(http2Before);
  });
});
