/**
 * The fake upstreams of `npm run bench`, in a process of their own so that they do not share a core with the
 * clients: `plain` (no sentinel, for the pass-through comparisons), `classic` (no v1 delta stream) and `sentinel`
 * (chat requirements and proof of work, as the real service), the last also behind HTTPS + HTTP/2 as chatgpt.com is
 * reached. Driven over IPC by bench.ts.
 */
import { FakeUpstream } from '../test/fake-upstream/fake-upstream';
import type { Scenario } from '../test/fake-upstream/scenarios';
import { startHttp2Front } from '../test/support/http2-front';
import { selfSignedCertificate } from '../test/support/self-signed';

export type FakeName = 'plain' | 'classic' | 'sentinel';

export type FakeCommand =
  | { id: number; op: 'token'; fake: FakeName }
  | { id: number; op: 'answer'; fake: FakeName; text: string }
  | { id: number; op: 'enqueue'; fake: FakeName; scenario: Scenario; times: number }
  | { id: number; op: 'reset'; fake: FakeName };

/** Where each fake listens; `sentinelOverHttp2` is the sentinel fake behind an HTTPS + HTTP/2 front. */
export type FakeUrls = Record<FakeName | 'sentinelOverHttp2', string>;

async function main(): Promise<void> {
  const fakes: Record<FakeName, FakeUpstream> = {
    plain: await FakeUpstream.start({ requireSentinel: false, recordRequests: false }),
    classic: await FakeUpstream.start({ requireSentinel: false, recordRequests: false, deltaEncoding: false }),
    sentinel: await FakeUpstream.start({ recordRequests: false }),
  };
  // The sentinel fake behind HTTPS with HTTP/2, as chatgpt.com is reached; its certificate is trusted by FlowGPT through
  // NODE_EXTRA_CA_CERTS, which every build honours.
  const tls = selfSignedCertificate();
  const sentinelOverHttp2 = (await startHttp2Front(fakes.sentinel.url, tls)).url;
  process.on('message', (command: FakeCommand) => {
    const fake = fakes[command.fake];
    let result: unknown = null;
    if (command.op === 'token') result = fake.createAccessToken();
    else if (command.op === 'answer') fake.setDefaultAnswer(command.text);
    else if (command.op === 'reset') fake.reset();
    else for (let k = 0; k < command.times; k++) fake.enqueue(command.scenario);
    process.send?.({ id: command.id, result });
  });
  process.once('disconnect', () => {
    tls.remove();
    void Promise.all(Object.values(fakes).map((fake) => fake.close())).then(() => process.exit(0));
  });
  const urls: FakeUrls = { plain: fakes.plain.url, classic: fakes.classic.url, sentinel: fakes.sentinel.url, sentinelOverHttp2 };
  process.send?.({ ready: true, urls, caFile: tls.certFile });
}

void main();
