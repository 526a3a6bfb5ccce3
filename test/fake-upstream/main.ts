import { devControlRoutes, SCENARIO_PRESETS } from './dev-controls';
import { FakeUpstream } from './fake-upstream';

/**
 * `npm run fake [-- --port 5999 --difficulty 0fffff --classic --delay-ms 20 --no-sentinel]`: the fake ChatGPT
 * backend and auth server as a dev tool, to try FlowGPT without an account. Prints the variables to give
 * FlowGPT and a few ready tokens; `/_fake/…` mints more and queues answers (see dev-controls.ts).
 */
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
    // A long-running tool: do not keep every request in memory.
    recordRequests: false,
  });
  fake.useControlRoutes(devControlRoutes(fake));
  const accessTokens = [fake.createAccessToken({ email: 'demo@example.com' }), fake.createAccessToken({ email: 'demo2@example.com' })];
  const refreshToken = fake.createRefreshToken({ account: { email: 'demo3@example.com' } });
  process.stdout.write(
    [
      `Fake ChatGPT upstream listening on ${fake.url}`,
      '',
      'Start FlowGPT against it (in another terminal):',
      `CHATGPT_BASE_URL=${fake.url}`,
      `AUTH_BASE_URL=${fake.url}`,
      '',
      'and for the browser gateway (ENABLE_GATEWAY=true, sign in at /auth/login), the chat page loads its scripts from:',
      `CDN_BASE_URL=${fake.url}`,
      '',
      'Ready tokens (send one as the API key, or upload them at /admin):',
      ...accessTokens.map((token) => `ACCESS_TOKEN=${token}`),
      `REFRESH_TOKEN=${refreshToken}`,
      '',
      'More tokens:          curl -X POST ' +
        `${fake.url}/_fake/tokens -H 'content-type: application/json' -d '{"kind":"access"}'   (or "refresh", "session")`,
      'Queue the next answer: curl -X POST ' + `${fake.url}/_fake/scenario -H 'content-type: application/json' -d '{"name":"reasoning"}'`,
      `Scenarios: ${Object.keys(SCENARIO_PRESETS).join(', ')}`,
      '',
    ].join('\n'),
  );
  const stop = () => void fake.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const { code } = (error ?? {}) as NodeJS.ErrnoException;
  console.error(
    code === 'EADDRINUSE' ? `Cannot start the fake upstream: port ${flag('port') ?? 5999} is already in use (use --port)` : error,
  );
  process.exit(1);
});
