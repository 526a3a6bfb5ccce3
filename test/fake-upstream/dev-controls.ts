import type { ControlRoutes, FakeUpstream, RecordedRequest } from './fake-upstream';
import { GENERATIONS, type Generation } from './f-conversation';
import type { Scenario } from './scenarios';

/**
 * Named answers for `POST /_fake/scenario {"name": …}`: each queues one answer for the next conversation
 * request, so a newcomer can see every kind of output through FlowGPT without a real account.
 */
export const SCENARIO_PRESETS: Record<string, Scenario> = {
  text: { kind: 'text', text: 'Hello from the fake upstream! This answer was queued by name.' },
  reasoning: {
    kind: 'reasoning',
    thoughts: [
      { summary: 'Reading the question', content: 'The user wants a short answer.' },
      { summary: 'Checking the arithmetic', content: '6 times 7 is 42.' },
    ],
    seconds: 3,
    text: 'The answer is 42.',
  },
  image: { kind: 'image', prompt: 'a watercolor lighthouse at dawn' },
  code: {
    kind: 'code',
    code: 'print(sum(range(10)))',
    output: '45\n',
    text: 'The sum of 0 to 9 is 45.',
  },
  browse: {
    kind: 'browse',
    initialText: 'Searching the web',
    finishedText: 'Searched 1 site',
    text: 'Node.js 20 is a long-term support release 【0†nodejs.org】.',
    citations: [{ url: 'https://nodejs.org/en/about/previous-releases', title: 'Node.js releases' }],
  },
  cut: { kind: 'cut', text: 'This answer will be cut off after a few words by a dropped connection.', afterChunks: 3 },
  '429': {
    kind: 'status',
    status: 429,
    body: {
      detail: {
        message: "You've reached our limit of messages per hour. Please try again later.",
        clears_in: 60,
        code: 'model_cap_exceeded',
      },
    },
  },
  slow: { kind: 'text', text: 'This answer arrives one word at a time, slowly, so you can watch the stream.', delayMs: 400 },
  error: { kind: 'error_event', text: 'Starting an answer', message: 'Something went wrong upstream mid-answer.' },
  moderation: { kind: 'moderation' },
  cf_challenge: { kind: 'cf_challenge' },
  long: { kind: 'long', chars: 4000 },
};

const TOKEN_KINDS = ['access', 'refresh', 'session'] as const;

/**
 * `/_fake/…` on the fake's own port:
 * - `POST /_fake/tokens {"kind": "access" | "refresh" | "session", "email"?}` mints a token (a session token is a `__Secure-next-auth.session-token` value): `{"kind", "token"}`;
 * - `POST /_fake/scenario {"name": "reasoning"}` (or `{"scenario": {…a Scenario…}}`) queues the next answer;
 * - `GET /_fake/scenarios` lists the names;
 * - `POST /_fake/accounts/{user id or access token}/generation {"generation": "both" | "f" | "classic"}` sets the
 *   send flows that account gets.
 * - `POST /_fake/handoff {"cutAfterItems": n}` drops the next handed-off turn's WebSocket after n items (thinking
 *   models such as `o3` answer over the socket; the client then resumes with `f/conversation/resume`).
 */
export function devControlRoutes(fake: FakeUpstream): ControlRoutes {
  return (request: RecordedRequest) => {
    if (!request.path.startsWith('/_fake/')) return undefined;
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
    const route = `${request.method} ${request.path}`;
    if (route === 'GET /_fake/scenarios')
      return { status: 200, body: { scenarios: Object.keys(SCENARIO_PRESETS), queued: fake.pendingScenarios } };
    if (route === 'POST /_fake/tokens') {
      const kind = body.kind ?? 'access';
      if (!TOKEN_KINDS.includes(kind as (typeof TOKEN_KINDS)[number])) return badRequest(`"kind" must be one of ${TOKEN_KINDS.join(', ')}`);
      const email = typeof body.email === 'string' ? body.email : undefined;
      const token =
        kind === 'refresh'
          ? fake.createRefreshToken({ account: { email } })
          : kind === 'session'
            ? fake.createSessionToken({ account: { email } })
            : fake.createAccessToken({ email });
      return { status: 201, body: { kind, token } };
    }
    if (route === 'POST /_fake/scenario') {
      const scenario = typeof body.name === 'string' ? SCENARIO_PRESETS[body.name] : (body.scenario as Scenario | undefined);
      if (!scenario || typeof scenario !== 'object' || typeof scenario.kind !== 'string') {
        return badRequest(`give {"name": one of ${Object.keys(SCENARIO_PRESETS).join(', ')}} or {"scenario": {"kind": …}}`);
      }
      fake.enqueue(scenario);
      return { status: 201, body: { queued: scenario.kind, pending: fake.pendingScenarios } };
    }
    const generationRoute = /^POST \/_fake\/accounts\/([^/]+)\/generation$/.exec(route);
    if (generationRoute) {
      if (!GENERATIONS.includes(body.generation as Generation)) return badRequest(`"generation" must be one of ${GENERATIONS.join(', ')}`);
      fake.setGeneration(decodeURIComponent(generationRoute[1]), body.generation as Generation);
      return { status: 200, body: { generation: body.generation } };
    }
    if (route === 'POST /_fake/handoff') {
      const after = body.cutAfterItems;
      if (typeof after !== 'number' || !Number.isInteger(after) || after < 0) return badRequest('"cutAfterItems" must be a whole number');
      fake.handoff.cutNextSocket(after);
      return { status: 201, body: { cutAfterItems: after } };
    }
    return {
      status: 404,
      body: { error: `no such control: ${route} (try POST /_fake/tokens, POST /_fake/scenario, GET /_fake/scenarios)` },
    };
  };
}

function badRequest(message: string): { status: number; body: unknown } {
  return { status: 400, body: { error: message } };
}
