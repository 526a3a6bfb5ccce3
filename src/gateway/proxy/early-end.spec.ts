import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { endPipedAnswerEarly } from './early-end';

/** An upstream conversation stream that never ends by itself (a long or paused answer). */
function endlessUpstream(): Readable {
  const event = `data: ${JSON.stringify({ v: 'x'.repeat(16 * 1024) })}\n\n`;
  return new Readable({
    read() {
      this.push(event);
    },
  });
}

interface PipedAnswer {
  body: Readable;
  through: PassThrough;
  response: ServerResponse;
}

describe('endPipedAnswerEarly', () => {
  let server: Server;
  let answers: Promise<PipedAnswer>;
  const clients: Socket[] = [];

  beforeEach(async () => {
    let answered!: (answer: PipedAnswer) => void;
    answers = new Promise((resolve) => (answered = resolve));
    // As ReverseProxyService pipes an event stream: upstream body, a rewriting stream, the browser's response.
    server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/event-stream');
      response.flushHeaders();
      const body = endlessUpstream();
      const through = new PassThrough();
      pipeline([body, through, response]).catch(() => {
        if (!response.writableEnded) response.destroy();
      });
      answered({ body, through, response });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const port = () => (server.address() as AddressInfo).port;

  it('ends the answer of a browser that reads it as a complete HTTP message, and lets the upstream go', async () => {
    const received = new Promise<IncomingMessage>((resolve) => get({ port: port(), host: '127.0.0.1', path: '/' }, resolve));
    const { body, through, response } = await answers;
    const browser = await received;
    const complete = new Promise<boolean>((resolve) => {
      browser.on('end', () => resolve(true));
      browser.on('error', () => resolve(false));
      browser.on('aborted', () => resolve(false));
    });
    browser.resume();
    await endPipedAnswerEarly(body, through, response, 60_000);
    expect(await complete).toBe(true);
    expect(body.destroyed).toBe(true);
  });

  it('cuts the answer of a browser that stopped reading once it has not taken the end in time: a shutdown waits for it no longer', async () => {
    // A browser that stopped reading (a tab frozen, a client gone without a word): its socket is full.
    const browser = connect(port(), '127.0.0.1', () => browser.write('GET / HTTP/1.1\r\nHost: gateway.test\r\n\r\n'));
    clients.push(browser);
    browser.pause();
    const { body, through, response } = await answers;
    while (!response.writableNeedDrain) await new Promise((resolve) => setTimeout(resolve, 10));
    await endPipedAnswerEarly(body, through, response, 50);
    expect(response.destroyed).toBe(true);
    expect(body.destroyed).toBe(true);
  }, 15_000);
});
