'use strict';
// A second floor for `npm run bench`: the least a gateway that translates must do, written straight on Node's
// http module. It reads and parses the OpenAI request, sends the upstream's conversation request, parses every
// upstream event (the v1 delta stream) and writes each text piece as an OpenAI chunk. No routing, no validation
// beyond the shape it needs, no pool, no errors worth the name: not a product, a measure of what translation costs
// on this machine next to piping bytes (bare-proxy.js). Prints its port on stdout.
const http = require('node:http');
const { randomUUID } = require('node:crypto');

const target = new URL(process.env.TARGET_URL);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
const TEXT_PATH = '/message/content/parts/0';

function upstreamBody(chat) {
  return JSON.stringify({
    action: 'next',
    messages: chat.messages.map((message) => ({
      id: randomUUID(),
      author: { role: message.role },
      content: { content_type: 'text', parts: [String(message.content)] },
      metadata: {},
    })),
    model: chat.model,
    parent_message_id: randomUUID(),
    supported_encodings: ['v1'],
  });
}

/** The text an upstream event adds to the answer, or ''. */
function textOf(event, state) {
  if (typeof event.v === 'string') {
    if (event.p !== undefined) state.path = event.p;
    return state.path === TEXT_PATH && (event.o === undefined || event.o === 'append') ? event.v : '';
  }
  if (event.o === 'patch' && Array.isArray(event.v)) {
    let text = '';
    for (const op of event.v) if (op.p === TEXT_PATH && op.o === 'append' && typeof op.v === 'string') text += op.v;
    return text;
  }
  return '';
}

function translate(answer, response, chat) {
  const head = `{"id":"chatcmpl-${randomUUID()}","object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":${JSON.stringify(chat.model)},"choices":[{"index":0,"delta":`;
  const chunk = (delta, finish) => `data: ${head}${delta},"finish_reason":${finish}}]}\n\n`;
  const state = { path: '' };
  let pending = '';
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.write(chunk('{"role":"assistant","content":""}', 'null'));
  answer.setEncoding('utf8');
  answer.on('data', (text) => {
    pending += text;
    let end;
    let out = '';
    while ((end = pending.indexOf('\n\n')) !== -1) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const at = block.indexOf('data: ');
      if (at === -1) continue;
      const data = block.slice(at + 6);
      if (data === '[DONE]' || data[0] !== '{') continue;
      const piece = textOf(JSON.parse(data), state);
      if (piece) out += chunk(`{"content":${JSON.stringify(piece)}}`, 'null');
    }
    if (out) response.write(out);
  });
  answer.on('end', () => response.end(`${chunk('{}', '"stop"')}data: [DONE]\n\n`));
  answer.on('error', () => response.destroy());
}

const server = http.createServer((request, response) => {
  let body = '';
  request.setEncoding('utf8');
  request.on('data', (text) => (body += text));
  request.on('end', () => {
    let chat;
    try {
      chat = JSON.parse(body);
      if (typeof chat.model !== 'string' || !Array.isArray(chat.messages)) throw new Error('bad request');
    } catch {
      response.writeHead(400).end();
      return;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: '/backend-api/conversation',
        headers: { authorization: request.headers.authorization, 'content-type': 'application/json', accept: 'text/event-stream' },
        agent,
      },
      (answer) => {
        if (answer.statusCode !== 200) {
          answer.resume();
          response.writeHead(502).end();
        } else translate(answer, response, chat);
      },
    );
    upstream.on('error', () => response.destroy());
    upstream.end(upstreamBody(chat));
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
