/**
 * The fake upstreams of `npm run bench`, in a process of their own so that they do not share a core with the
 * clients: `plain` (no sentinel, for the pass-through comparisons), `classic` (no v1 delta stream) and `sentinel`
 * (chat requirements and proof of work, as the real service). Driven over IPC by bench.ts.
 */
import { FakeUpstream } from '../test/fake-upstream/fake-upstream';
import type { Scenario } from '../test/fake-upstream/scenarios';

export type FakeName = 'plain' | 'classic' | 'sentinel';

export type FakeCommand =
  | { id: number; op: 'token'; fake: FakeName }
  | { id: number; op: 'answer'; fake: FakeName; text: string }
  | { id: number; op: 'enqueue'; fake: FakeName; scenario: Scenario; times: number }
  | { id: number; op: 'reset'; fake: FakeName };

async function main(): Promise<void> {
  const fakes: Record<FakeName, FakeUpstream> = {
    plain: await FakeUpstream.start({ requireSentinel: false, recordRequests: false }),
    classic: await FakeUpstream.start({ requireSentinel: false, recordRequests: false, deltaEncoding: false }),
    sentinel: await FakeUpstream.start({ recordRequests: false }),
  };
  process.on('message', (command: FakeCommand) => {
    const fake = fakes[command.fake];
    let result: unknown = null;
    if (command.op === 'token') result = fake.createAccessToken();
    else if (command.op === 'answer') fake.setDefaultAnswer(command.text);
    else if (command.op === 'reset') fake.reset();
    else for (let k = 0; k < command.times; k++) fake.enqueue(command.scenario);
    process.send?.({ id: command.id, result });
  });
  process.once('disconnect', () => void Promise.all(Object.values(fakes).map((fake) => fake.close())).then(() => process.exit(0)));
  process.send?.({ ready: true, urls: { plain: fakes.plain.url, classic: fakes.classic.url, sentinel: fakes.sentinel.url } });
}

void main();
