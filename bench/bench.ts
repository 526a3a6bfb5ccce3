/**
 * `npm run bench`: the proxy's own cost next to the fake upstream called directly, and the
 * proof-of-work solve time per difficulty. Numbers, not assertions: compare runs on one machine.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { createApp } from '../src/app.factory';
import { FakeUpstream } from '../test/fake-upstream/fake-upstream';
import { benchPow } from './pow-bench';

const REQUESTS = 200;
const CONCURRENCY = 20;
const ANSWER = 'FlowGPT benchmark answer with a few dozen words in it, streamed in small pieces like a real model would stream them to the client.';

interface Sample {
  ttftMs: number;
  totalMs: number;
  bytes: number;
}

/** POSTs and streams the response, timing the first body byte and the end. */
function timedPost(url: string, body: unknown, headers: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttftMs = 0;
    let bytes = 0;
    const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent }, (response) => {
      response.on('data', (chunk: Buffer) => {
        if (!ttftMs) ttftMs = performance.now() - started;
        bytes += chunk.length;
      });
      response.on('end', () => (response.statusCode === 200 ? resolve({ ttftMs, totalMs: performance.now() - started, bytes }) : reject(new Error(`status ${response.statusCode}`))));
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

interface RunResult {
  line: string;
  ttftP50: number;
  requestsPerSecond: number;
}

async function run(label: string, count: number, concurrency: number, once: () => Promise<Sample>): Promise<RunResult> {
  const samples: Sample[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        samples.push(await once());
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const ttft = samples.map((sample) => sample.ttftMs).sort((a, b) => a - b);
  const total = samples.map((sample) => sample.totalMs).sort((a, b) => a - b);
  const pct = (values: number[], p: number) => values[Math.min(values.length - 1, Math.floor(values.length * p))].toFixed(1);
  const mb = samples.reduce((sum, sample) => sum + sample.bytes, 0) / 1e6;
  const requestsPerSecond = count / seconds;
  return {
    line: `${label.padEnd(40)} TTFT p50 ${pct(ttft, 0.5).padStart(6)} ms  p95 ${pct(ttft, 0.95).padStart(6)} ms | total p50 ${pct(total, 0.5).padStart(6)} ms | ${requestsPerSecond.toFixed(0).padStart(5)} req/s, ${(mb / seconds).toFixed(2)} MB/s out`,
    ttftP50: Number(pct(ttft, 0.5)),
    requestsPerSecond,
  };
}

function upstreamBody(): unknown {
  return {
    action: 'next',
    messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] }, metadata: {} }],
    model: 'gpt-4o',
    parent_message_id: randomUUID(),
    supported_encodings: ['v1'],
  };
}

async function main(): Promise<void> {
  const fake = await FakeUpstream.start({ requireSentinel: false, recordRequests: false });
  fake.setDefaultAnswer(ANSWER);
  const token = fake.createAccessToken();
  const direct = await createApp({ CHATGPT_BASE_URL: fake.url, AUTH_BASE_URL: fake.url, CONVERSATION_ONLY: 'true', LOG_LEVEL: 'error', DATA_DIR: `/tmp/flowgpt-bench-${process.pid}` });
  await direct.listen(0, '127.0.0.1');
  const proxyUrl = (await direct.getUrl()).replace('[::1]', '127.0.0.1');

  const sentinelFake = await FakeUpstream.start({ recordRequests: false });
  sentinelFake.setDefaultAnswer(ANSWER);
  const sentinelToken = sentinelFake.createAccessToken();
  const full = await createApp({ CHATGPT_BASE_URL: sentinelFake.url, AUTH_BASE_URL: sentinelFake.url, LOG_LEVEL: 'error', DATA_DIR: `/tmp/flowgpt-bench-${process.pid}` });
  await full.listen(0, '127.0.0.1');
  const fullUrl = (await full.getUrl()).replace('[::1]', '127.0.0.1');

  const chat = { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] };
  const auth = { authorization: `Bearer ${token}` };
  const lines: string[] = [`FlowGPT bench: streamed answers of ${ANSWER.length} chars; client, FlowGPT and the fake upstream share this machine`];
  // Warm up connections, JIT and tokenizer tables.
  await run('warm-up', 40, 10, () => timedPost(`${proxyUrl}/v1/chat/completions`, chat, auth));
  const directCall = () => timedPost(`${fake.url}/backend-api/conversation`, upstreamBody(), { ...auth, accept: 'text/event-stream' });
  const proxiedCall = () => timedPost(`${proxyUrl}/v1/chat/completions`, chat, auth);

  lines.push('', 'One request at a time (latency):');
  const directSerial = await run('fake upstream, called directly', 100, 1, directCall);
  const proxiedSerial = await run('through FlowGPT (CONVERSATION_ONLY)', 100, 1, proxiedCall);
  const fullSerial = await run('through FlowGPT, sentinel + PoW 0fffff', 100, 1, () => timedPost(`${fullUrl}/v1/chat/completions`, chat, { authorization: `Bearer ${sentinelToken}` }));
  lines.push(directSerial.line, proxiedSerial.line, fullSerial.line);
  lines.push(`=> added time-to-first-token: ${(proxiedSerial.ttftP50 - directSerial.ttftP50).toFixed(1)} ms (proxy only), ${(fullSerial.ttftP50 - directSerial.ttftP50).toFixed(1)} ms (with the sentinel round trip and PoW)`);

  lines.push('', `${REQUESTS} requests, ${CONCURRENCY} at a time (throughput):`);
  const directLoad = await run('fake upstream, called directly', REQUESTS, CONCURRENCY, directCall);
  const proxiedLoad = await run('through FlowGPT (CONVERSATION_ONLY)', REQUESTS, CONCURRENCY, proxiedCall);
  lines.push(directLoad.line, proxiedLoad.line);
  lines.push((await run('through FlowGPT, sentinel + PoW 0fffff', REQUESTS, CONCURRENCY, () => timedPost(`${fullUrl}/v1/chat/completions`, chat, { authorization: `Bearer ${sentinelToken}` }))).line);
  lines.push((await run('non-stream through FlowGPT', REQUESTS, CONCURRENCY, () => timedPost(`${proxyUrl}/v1/chat/completions`, { ...chat, stream: false }, auth))).line);
  lines.push(`=> throughput through FlowGPT: ${proxiedLoad.requestsPerSecond.toFixed(0)} req/s vs ${directLoad.requestsPerSecond.toFixed(0)} req/s direct`);

  for (let i = 0; i < 20; i++) fake.enqueue({ kind: 'long', chars: 200_000 });
  lines.push('', (await run('200k-char answer via FlowGPT (v1 delta)', 20, 4, proxiedCall)).line);

  await direct.close();
  await full.close();
  await fake.close();
  await sentinelFake.close();
  agent.destroy();

  lines.push('', 'Proof of work:', ...(await benchPow()));
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
