import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { solidPng } from '../fake-upstream/png';
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS } from '../support/chromium';
import { GatewayStack, RecordingHost, recordingHost, startGateway } from '../support/gateway-stack';

jest.setTimeout(120_000);

/** A page of its own origin, standing in for a site that embeds what the gateway serves. */
interface EmbeddingPage {
  origin: string;
  html: string;
  close(): Promise<void>;
}

async function embeddingPage(): Promise<EmbeddingPage> {
  const page: EmbeddingPage = { origin: '', html: '', close: () => Promise.resolve() };
  const server: Server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(page.html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  page.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  page.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return page;
}

/**
 * gateway.md §5.7 "Ours": user files and sandbox output live on an origin of their own (FILE_HOST / SANDBOX_HOST)
 * that the chat page embeds, pictures in <img> and sandbox output in an <iframe>. Here the gateway plays that files
 * and sandbox origin, and a page on another port plays the chat page at PUBLIC_URL.
 */
describe('user files and sandbox output embedded by the chat page, in Chromium', () => {
  let gw: GatewayStack;
  let files: RecordingHost;
  let sandbox: RecordingHost;
  let chat: EmbeddingPage;
  let stranger: EmbeddingPage;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium).`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    [files, sandbox, chat, stranger] = await Promise.all([recordingHost(), recordingHost(), embeddingPage(), embeddingPage()]);
    files.answer = () => ({ headers: { 'content-type': 'image/png' }, body: solidPng(8, 8) });
    sandbox.answer = () => ({
      headers: { 'content-type': 'text/html' },
      body: '<p id="out">waiting</p><script>document.getElementById("out").textContent = "ran as " + self.origin</script>',
    });
    gw = await startGateway({ env: { PUBLIC_URL: chat.origin, FILES_BASE_URL: files.url, SANDBOX_BASE_URL: sandbox.url } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await Promise.all([files, sandbox, chat, stranger].map((server) => server?.close()));
  });

  /** Opens `embedder` showing `html`; its load event waits for its pictures and frames, blocked ones included. */
  async function open(embedder: EmbeddingPage, html: string): Promise<Page> {
    embedder.html = html;
    const page = await browser.newPage();
    await page.goto(`${embedder.origin}/`, { waitUntil: 'load' });
    return page;
  }

  it('shows a user picture from the files origin in the chat page', async () => {
    const page = await open(chat, `<img id="pic" src="${gw.url}/file-picture?sig=a">`);
    expect(files.requests.map((r) => r.url)).toContain('/file-picture?sig=a');
    expect(await page.evaluate(() => (document.getElementById('pic') as HTMLImageElement).naturalWidth)).toBe(8);
    await page.screenshot({ path: join(SCREENSHOTS, 'files-picture-in-chat-page.png') });
  });

  it('shows sandbox output in a frame of the chat page, its scripts running as an opaque origin', async () => {
    const page = await open(chat, `<iframe id="box" src="${gw.url}/sandbox/index.html"></iframe>`);
    expect(sandbox.requests.map((r) => r.url)).toContain('/index.html');
    const frame = page.frames().find((candidate) => candidate !== page.mainFrame());
    expect(frame?.url()).toBe(`${gw.url}/sandbox/index.html`);
    // `self.origin` is "null" for an opaque origin: the output can reach nothing of the gateway's origin.
    expect(await frame?.locator('#out').textContent()).toBe('ran as null');
    await page.screenshot({ path: join(SCREENSHOTS, 'sandbox-in-chat-page.png') });
  });

  it("refuses to show sandbox output in another site's frame", async () => {
    const page = await open(stranger, `<iframe id="box" src="${gw.url}/sandbox/index.html"></iframe>`);
    const frame = page.frames().find((candidate) => candidate !== page.mainFrame());
    expect(frame?.url()).not.toBe(`${gw.url}/sandbox/index.html`);
  });
});
