import { FakeUpstream } from './fake-upstream';

/** Runs the fake upstream on its own: `npx ts-node -T test/fake-upstream/main.ts --port 5999 [--difficulty 0fffff] [--classic] [--delay-ms 20]`. */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const fake = await FakeUpstream.start({
    port: Number(flag('port') ?? 5999),
    powDifficulty: flag('difficulty'),
    deltaEncoding: !process.argv.includes('--classic'),
    chunkDelayMs: Number(flag('delay-ms') ?? 0),
    requireSentinel: !process.argv.includes('--no-sentinel'),
  });
  const accessToken = fake.createAccessToken({ email: 'demo@example.com' });
  const refreshToken = fake.createRefreshToken({ account: { email: 'demo@example.com' } });
  process.stdout.write(
    [
      `fake upstream listening on ${fake.url}`,
      `CHATGPT_BASE_URL=${fake.url}`,
      `AUTH_BASE_URL=${fake.url}`,
      `ACCESS_TOKEN=${accessToken}`,
      `REFRESH_TOKEN=${refreshToken}`,
      '',
    ].join('\n'),
  );
  const stop = () => void fake.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
