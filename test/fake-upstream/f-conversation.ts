import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { checkPowAnswer } from './pow-check';

/**
 * The upstream's 2025–2026 send flow, as the fake enforces it (`gateway-live-ui.md` §4):
 * `sentinel/chat-requirements/prepare` → `…/finalize` → `f/conversation/prepare` → `f/conversation`.
 * Which generation an account gets is set per account: `both` (the default), `f` (the `f_completion` gate on:
 * the classic `/conversation` answers 404) or `classic` (the new paths answer 404).
 */
export type Generation = 'both' | 'f' | 'classic';
export const GENERATIONS: readonly Generation[] = ['both', 'f', 'classic'];

/** The headers the web app sends on `f/conversation` and the fake insists on. */
export const F_CONVERSATION_HEADERS = [
  'oai-client-version',
  'oai-client-build-number',
  'oai-device-id',
  'oai-language',
  'x-oai-turn-trace-id',
  'x-conduit-token',
] as const;

/** A refusal of the new flow's rules, answered as is (status and JSON body). */
export class FlowRefusal extends Error {
  readonly headers: Record<string, string> = {};

  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(JSON.stringify(body));
  }
}

interface PrepareGrant {
  owner: string;
  seed: string;
  difficulty: string;
  used: boolean;
}

interface FinalizeGrant {
  owner: string;
  /** The proof the finalize call carried; the conversation must repeat it in `openai-sentinel-proof-token`. */
  proof: string;
  used: boolean;
}

interface ConduitGrant {
  owner: string;
  used: boolean;
}

const NOT_FOUND = { detail: 'Not Found' };
const UNUSUAL_ACTIVITY = 'Unusual activity has been detected from your device. Try again later.';
const NO_CONDUIT = 'no-token';

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class FConversationGate {
  /** 404s answered to the new paths for classic-only accounts. */
  newPathRefusals = 0;
  /** 404s answered to the classic `/conversation` for new-only accounts. */
  classicPathRefusals = 0;
  private readonly generations = new Map<string, Generation>();
  private readonly prepares = new Map<string, PrepareGrant>();
  private readonly finalized = new Map<string, FinalizeGrant>();
  private readonly conduits = new Map<string, ConduitGrant>();

  constructor(private readonly defaultGeneration: Generation) {}

  reset(): void {
    this.newPathRefusals = 0;
    this.classicPathRefusals = 0;
    this.generations.clear();
    this.prepares.clear();
    this.finalized.clear();
    this.conduits.clear();
  }

  setGeneration(owner: string, generation: Generation): void {
    this.generations.set(owner, generation);
  }

  generationOf(owner: string): Generation {
    return this.generations.get(owner) ?? this.defaultGeneration;
  }

  /** A classic-only account does not have the new paths. */
  refuseNewPath(owner: string): void {
    if (this.generationOf(owner) !== 'classic') return;
    this.newPathRefusals++;
    throw new FlowRefusal(404, NOT_FOUND);
  }

  /** A new-only account (the `f_completion` gate on) does not have the classic conversation. */
  refuseClassicConversation(owner: string): void {
    if (this.generationOf(owner) !== 'f') return;
    this.classicPathRefusals++;
    throw new FlowRefusal(404, NOT_FOUND);
  }

  /** `sentinel/chat-requirements/prepare` (after the caller checked `p`): a prepare token and what to solve. */
  prepare(owner: string, persona: string, difficulty: string, turnstileRequired: boolean): Record<string, unknown> {
    const prepareToken = `gAAAAAB${randomBytes(120).toString('base64url')}`;
    const seed = String(Math.random());
    this.prepares.set(prepareToken, { owner, seed, difficulty, used: false });
    return {
      persona,
      prepare_token: prepareToken,
      proofofwork: { required: true, seed, difficulty },
      turnstile: turnstileRequired ? { required: true, dx: randomBytes(96).toString('base64') } : { required: false },
      so: null,
      force_login: false,
    };
  }

  /** `…/finalize`: the prepare token (once, same account) and a proof of work that beats its target. */
  finalize(owner: string, body: unknown): Record<string, unknown> {
    const given = isRecord(body) ? body : {};
    const grant = typeof given.prepare_token === 'string' ? this.prepares.get(given.prepare_token) : undefined;
    if (!grant || grant.used || grant.owner !== owner) throw new FlowRefusal(403, { detail: 'Invalid or expired prepare token' });
    grant.used = true;
    const proof = typeof given.proofofwork === 'string' ? given.proofofwork : '';
    if (!proof.startsWith('gAAAAAB') || !checkPowAnswer(grant.seed, grant.difficulty, proof.slice('gAAAAAB'.length))) {
      throw new FlowRefusal(403, { detail: 'Proof of work failed' });
    }
    const token = `gAAAAAB${randomBytes(180).toString('base64url')}`;
    this.finalized.set(token, { owner, proof, used: false });
    return { token, expire_at: Math.floor(Date.now() / 1000) + 540, expire_after: 540 };
  }

  /** `f/conversation/prepare`: asked with `x-conduit-token: no-token`, answers a conduit token bound to the account. */
  conduitPrepare(owner: string, headers: IncomingHttpHeaders): Record<string, unknown> {
    if (header(headers, 'x-conduit-token') !== NO_CONDUIT) {
      throw new FlowRefusal(400, { detail: `f/conversation/prepare expects x-conduit-token: ${NO_CONDUIT}` });
    }
    const conduitToken = `ct_${randomBytes(48).toString('base64url')}`;
    this.conduits.set(conduitToken, { owner, used: false });
    return { status: 'ok', conduit_token: conduitToken };
  }

  /**
   * What `f/conversation` insists on before answering: the web app's headers, a conduit token of this account
   * (once), and, unless the sentinel is off, a finalize token of this account (once) with the proof it was given.
   */
  checkConversation(owner: string, headers: IncomingHttpHeaders, requireSentinel: boolean): void {
    const missing = F_CONVERSATION_HEADERS.filter((name) => !header(headers, name));
    if (missing.length > 0) throw new FlowRefusal(403, { detail: `Missing required headers: ${missing.join(', ')}` });
    const conduit = this.conduits.get(header(headers, 'x-conduit-token') ?? '');
    if (!conduit || conduit.used || conduit.owner !== owner) {
      throw new FlowRefusal(403, { detail: { code: 'invalid_conduit_token', message: 'Invalid or missing conduit token' } });
    }
    conduit.used = true;
    if (!requireSentinel) return;
    const sentinel = this.finalized.get(header(headers, 'openai-sentinel-chat-requirements-token') ?? '');
    if (!sentinel || sentinel.used || sentinel.owner !== owner) throw new FlowRefusal(403, { detail: UNUSUAL_ACTIVITY });
    sentinel.used = true;
    if (header(headers, 'openai-sentinel-proof-token') !== sentinel.proof) throw new FlowRefusal(403, { detail: 'Proof of work failed' });
  }
}
