/*
 * The fake upstream's stand-in for the web app's bundle: does what the real app does at minimum, through
 * whatever origin served the page. Reads the session (`/api/auth/session`), the profile (`/backend-api/me`) and
 * the conversation list; on send runs the sentinel (prepare/finalize, or classic chat-requirements), solves the
 * proof of work when asked, posts the conversation (`f/conversation`, or the classic path) and renders the SSE answer.
 * A thinking model's answer (`?model=o3` on the page) comes as a `stream_handoff` stub: the stub then follows it over
 * the WebSocket the app is told about (`/backend-api/celsius/ws/user`), as the real app does.
 */
(function () {
  'use strict';
  var MASK = (1n << 64n) - 1n;
  var RC = [
    0x0000000000000001n,
    0x0000000000008082n,
    0x800000000000808an,
    0x8000000080008000n,
    0x000000000000808bn,
    0x0000000080000001n,
    0x8000000080008081n,
    0x8000000000008009n,
    0x000000000000008an,
    0x0000000000000088n,
    0x0000000080008009n,
    0x000000008000000an,
    0x000000008000808bn,
    0x800000000000008bn,
    0x8000000000008089n,
    0x8000000000008003n,
    0x8000000000008002n,
    0x8000000000000080n,
    0x000000000000800an,
    0x800000008000000an,
    0x8000000080008081n,
    0x8000000000008080n,
    0x0000000080000001n,
    0x8000000080008008n,
  ];
  var ROT = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
  ];

  function rotl(v, n) {
    return n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK;
  }

  function keccakF(s) {
    for (var round = 0; round < 24; round++) {
      var c = [];
      for (var x = 0; x < 5; x++) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (var i = 0; i < 25; i++) s[i] ^= c[((i % 5) + 4) % 5] ^ rotl(c[((i % 5) + 1) % 5], 1);
      var b = new Array(25);
      for (x = 0; x < 5; x++) for (var y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y], ROT[x][y]);
      for (x = 0; x < 5; x++)
        for (y = 0; y < 5; y++) s[x + 5 * y] = b[x + 5 * y] ^ (~b[((x + 1) % 5) + 5 * y] & MASK & b[((x + 2) % 5) + 5 * y]);
      s[0] ^= RC[round];
    }
  }

  /** SHA3-512 of a byte array (the browser has no SHA-3 in WebCrypto). */
  function sha3_512(bytes) {
    var rate = 72;
    var padded = new Uint8Array(Math.ceil((bytes.length + 1) / rate) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x06;
    padded[padded.length - 1] ^= 0x80;
    var s = new Array(25).fill(0n);
    for (var off = 0; off < padded.length; off += rate) {
      for (var lane = 0; lane < rate / 8; lane++) {
        var v = 0n;
        for (var k = 7; k >= 0; k--) v = (v << 8n) | BigInt(padded[off + lane * 8 + k]);
        s[lane] ^= v;
      }
      keccakF(s);
    }
    var out = new Uint8Array(64);
    for (var j = 0; j < 64; j++) out[j] = Number((s[j >> 3] >> BigInt(8 * (j & 7))) & 0xffn);
    return out;
  }

  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = '';
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }

  function browserConfig() {
    var started = performance.now();
    return [
      screen.width + screen.height,
      String(new Date()),
      4294705152,
      0,
      navigator.userAgent,
      '',
      '',
      navigator.language,
      navigator.languages.join(','),
      0,
      'vendor\u2212' + navigator.vendor,
      'location',
      'window',
      started,
      crypto.randomUUID(),
      '',
      navigator.hardwareConcurrency || 8,
      Date.now() - started,
    ];
  }

  /** The proof of work: indices 3 and 9 change until sha3-512(seed + answer) sorts below the difficulty. */
  function solve(seed, difficulty) {
    var target = [];
    for (var t = 0; t < difficulty.length; t += 2) target.push(parseInt(difficulty.slice(t, t + 2), 16));
    var config = browserConfig();
    for (var i = 0; i < 500000; i++) {
      config[3] = i;
      config[9] = i >> 1;
      var answer = base64(JSON.stringify(config));
      var digest = sha3_512(new TextEncoder().encode(seed + answer));
      for (var d = 0; d < target.length; d++) {
        if (digest[d] !== target[d]) break;
      }
      if (d < target.length && digest[d] < target[d]) return answer;
    }
    throw new Error('proof of work not solved');
  }

  var auth = {};
  var conversationId = null;
  var parentId = crypto.randomUUID();

  function $(id) {
    return document.getElementById(id);
  }

  function call(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({}, auth, headers || {}) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['content-type'] = 'application/json';
    }
    return fetch(path, init);
  }

  async function json(method, path, body, headers) {
    var response = await call(method, path, body, headers);
    if (!response.ok) throw Object.assign(new Error(method + ' ' + path + ': ' + response.status), { status: response.status });
    return response.json();
  }

  async function sentinelHeaders() {
    var p = 'gAAAAAC' + base64(JSON.stringify(browserConfig()));
    var headers = {};
    var requirements;
    try {
      requirements = await json('POST', '/backend-api/sentinel/chat-requirements/prepare', { p: p });
      var proof =
        requirements.proofofwork && requirements.proofofwork.required
          ? 'gAAAAAB' + solve(requirements.proofofwork.seed, requirements.proofofwork.difficulty)
          : undefined;
      var finalized = await json('POST', '/backend-api/sentinel/chat-requirements/finalize', {
        prepare_token: requirements.prepare_token,
        proofofwork: proof,
      });
      headers['openai-sentinel-chat-requirements-token'] = finalized.token;
      if (proof) headers['openai-sentinel-proof-token'] = proof;
      return headers;
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    requirements = await json('POST', '/backend-api/sentinel/chat-requirements', { p: p });
    headers['openai-sentinel-chat-requirements-token'] = requirements.token;
    if (requirements.proofofwork && requirements.proofofwork.required)
      headers['openai-sentinel-proof-token'] = 'gAAAAAB' + solve(requirements.proofofwork.seed, requirements.proofofwork.difficulty);
    return headers;
  }

  /** Follows the answer's text through classic frames (whole message) and delta frames (appends). */
  function answerReader(render, onHandoff) {
    var text = '';
    function apply(op) {
      if (!op) return;
      if (Array.isArray(op)) return op.forEach(apply);
      if (op.type === 'stream_handoff') {
        if (op.conversation_id) conversationId = op.conversation_id;
        return onHandoff(op);
      }
      if (op.o === 'patch') return apply(op.v);
      if (op.message && op.message.author && op.message.author.role === 'assistant' && op.message.content && op.message.content.parts) {
        text = String(op.message.content.parts[0] || '');
      } else if (op.v && op.v.message) {
        return apply(op.v);
      } else if (
        typeof op.v === 'string' &&
        (op.o === 'append' || (!op.o && op.p === undefined) || /\/content\/parts\/0$/.test(op.p || ''))
      ) {
        text += op.v;
      }
      if (op.conversation_id) conversationId = op.conversation_id;
      if (op.message && op.message.id && op.message.author && op.message.author.role === 'assistant') parentId = op.message.id;
    }
    return function (data) {
      if (data === '[DONE]') return 'done';
      try {
        apply(JSON.parse(data));
      } catch (ignored) {
        return;
      }
      render(text);
    };
  }

  /** Today's flow asks for a conduit token first (`f/conversation/prepare`) and sends the app's own headers. */
  async function conduitHeaders() {
    var flow = { 'oai-client-version': 'prod-fake01', 'oai-client-build-number': '1', 'x-oai-turn-trace-id': crypto.randomUUID() };
    var body = { action: 'next', model: 'auto' };
    if (conversationId) body.conversation_id = conversationId;
    try {
      var prepared = await json(
        'POST',
        '/backend-api/f/conversation/prepare',
        body,
        Object.assign({ 'x-conduit-token': 'no-token' }, flow),
      );
      return Object.assign(flow, { 'x-conduit-token': prepared.conduit_token });
    } catch (error) {
      if (error.status !== 404) throw error;
      return {};
    }
  }

  /** Calls `onData` with each `data:` line of SSE text. */
  function eachData(sse, onData) {
    var results = [];
    sse.split(/\r?\n\r?\n/).forEach(function (block) {
      block.split(/\r?\n/).forEach(function (line) {
        if (line.indexOf('data: ') === 0) results.push(onData(line.slice(6)));
      });
    });
    return results.indexOf('done') !== -1;
  }

  /**
   * The rest of a handed-off turn: the socket URL from the backend (a gateway gives its own bridge), `connect`,
   * the subscription to the turn's topic, and its items (the same SSE events the POST would have carried).
   */
  async function followHandoff(handoff, onData) {
    var answer = await json('GET', '/backend-api/celsius/ws/user');
    var topic = (handoff.options && handoff.options.topic_id) || handoff.topic_id || 'conversation-turn-' + handoff.turn_exchange_id;
    window.__fakeWebApp.lastSocketUrl = answer.websocket_url;
    await new Promise(function (resolve, reject) {
      var socket = new WebSocket(answer.websocket_url);
      var finished = false;
      function finish(error) {
        if (finished) return;
        finished = true;
        socket.close();
        if (error) reject(error);
        else resolve();
      }
      socket.onopen = function () {
        socket.send(JSON.stringify({ type: 'connect' }));
        socket.send(JSON.stringify({ type: 'subscribe', topic: topic }));
      };
      socket.onmessage = function (event) {
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (ignored) {
          return;
        }
        if (message.type === 'error') return finish(new Error('socket: ' + message.message));
        if (message.type !== 'message' || message.topic !== topic || !message.payload) return;
        var item = typeof message.payload === 'string' ? message.payload : message.payload.encoded_item;
        if (typeof item === 'string' && eachData(item, onData)) finish();
      };
      socket.onerror = function () {
        finish(new Error('socket failed'));
      };
      socket.onclose = function () {
        finish(new Error('socket closed before the answer ended'));
      };
    });
  }

  async function send(text) {
    var headers = Object.assign(await conduitHeaders(), await sentinelHeaders());
    var body = {
      action: 'next',
      messages: [{ id: crypto.randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] }, metadata: {} }],
      parent_message_id: parentId,
      model: new URLSearchParams(location.search).get('model') || 'auto',
      supported_encodings: ['v1'],
    };
    if (conversationId) body.conversation_id = conversationId;
    var response = await call('POST', '/backend-api/f/conversation', body, headers);
    if (response.status === 404) response = await call('POST', '/backend-api/conversation', body, headers);
    if (!response.ok) throw new Error('conversation: ' + response.status);
    var handoff = null;
    var onData = answerReader(
      function (answer) {
        $('answer').textContent = answer;
      },
      function (stub) {
        handoff = stub;
      },
    );
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var blocks = buffer.split('\n\n');
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        block.split('\n').forEach(function (line) {
          if (line.indexOf('data: ') === 0) onData(line.slice(6));
        });
      });
    }
    if (handoff) {
      $('status').textContent = 'following the hand-off';
      await followHandoff(handoff, onData);
    }
    $('status').textContent = 'answered';
    await loadConversations();
  }

  async function loadConversations() {
    var list = await json('GET', '/backend-api/conversations?offset=0&limit=28&order=updated');
    var ul = $('conversations');
    ul.textContent = '';
    list.items.forEach(function (item) {
      var li = document.createElement('li');
      li.textContent = item.title;
      li.dataset.id = item.id;
      ul.appendChild(li);
    });
  }

  async function start() {
    var session = await (await fetch('/api/auth/session')).json();
    if (!session.accessToken) {
      $('status').textContent = 'signed out';
      return;
    }
    auth = { authorization: 'Bearer ' + session.accessToken };
    var me = await json('GET', '/backend-api/me');
    $('profile').textContent = me.name + ' <' + me.email + '>';
    await loadConversations();
    $('status').textContent = 'ready';
    $('composer').addEventListener('submit', function (event) {
      event.preventDefault();
      var text = $('prompt').value;
      $('status').textContent = 'sending';
      send(text).catch(function (error) {
        $('status').textContent = 'error: ' + error.message;
      });
    });
  }

  if (typeof window !== 'undefined' && typeof document !== 'undefined') {
    window.__fakeWebApp = { sha3_512: sha3_512, solve: solve };
    var started = function () {
      start().catch(function (error) {
        $('status').textContent = 'error: ' + error.message;
      });
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', started);
    else started();
  } else if (typeof module !== 'undefined') {
    module.exports = { sha3_512: sha3_512 };
  }
})();
