import { Logger } from '@nestjs/common';
import { UpstreamError } from '../../common/errors/upstream-error';
import type { UpstreamStep } from '../../common/errors/api-error';
import { SharedState } from '../../common/shared-state/shared-state';
import { DownSharedState } from '../../common/shared-state/testing/down-shared-state';
import type { UpstreamFlowSetting } from '../../config/app-config';
import { testConfig } from '../../config/test-config';
import type { ClassicSendFlow } from './classic-send.flow';
import type { FConversationSendFlow } from './f-conversation-send.flow';
import type { ReadySend, SendFlowName, SendInput } from './send-flow';
import { CLASSIC_FALLBACK_TTL_MS, SendFlowSelector } from './send-flow.selector';

type FOutcome = 'ok' | { status: number; step: UpstreamStep };

function flowDouble(name: SendFlowName, outcome: () => FOutcome = () => 'ok') {
  return {
    name,
    prepare: jest.fn(async (): Promise<ReadySend> => {
      const result = outcome();
      if (result !== 'ok')
        throw new UpstreamError({ kind: result.status === 404 ? 'not_found' : 'forbidden', step: result.step, status: result.status });
      return { flow: name, post: jest.fn() };
    }),
  };
}

const input = (key = 'account-1'): SendInput => ({ account: { key, label: `account ${key}` } }) as unknown as SendInput;

describe('SendFlowSelector', () => {
  let now = 1_000_000;
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  function selector(setting: UpstreamFlowSetting, fOutcome?: () => FOutcome, shared = new SharedState(null, 'test:')) {
    const classic = flowDouble('classic');
    const f = flowDouble('f', fOutcome);
    const chosen = new SendFlowSelector(
      testConfig({ upstreamFlow: setting }),
      shared,
      classic as unknown as ClassicSendFlow,
      f as unknown as FConversationSendFlow,
    );
    return { chosen, classic, f };
  }

  // setting, what the new flow answers, the flow used, whether the new flow was tried, the error (if any)
  it.each<[UpstreamFlowSetting, FOutcome, SendFlowName | 'error', boolean]>([
    ['f', 'ok', 'f', true],
    ['f', { status: 404, step: 'sentinel_prepare' }, 'error', true],
    ['classic', 'ok', 'classic', false],
    ['auto', 'ok', 'f', true],
    ['auto', { status: 404, step: 'sentinel_prepare' }, 'classic', true],
    ['auto', { status: 404, step: 'sentinel_finalize' }, 'classic', true],
    ['auto', { status: 404, step: 'conversation_prepare' }, 'classic', true],
    // A 404 of the conversation itself (a conversation or GPT not found) is the request's fault, not a missing flow.
    ['auto', { status: 404, step: 'conversation' }, 'error', true],
    ['auto', { status: 403, step: 'sentinel_prepare' }, 'error', true],
  ])('%s with the new flow answering %j uses %s', async (setting, outcome, expected, triedF) => {
    const { chosen, f } = selector(setting, () => outcome);
    const result = chosen.prepare(input());
    if (expected === 'error') await expect(result).rejects.toBeInstanceOf(UpstreamError);
    else expect((await result).flow).toBe(expected);
    expect(f.prepare).toHaveBeenCalledTimes(triedF ? 1 : 0);
  });

  it('remembers a fallback per account for six hours, logging it once', async () => {
    let fHas404 = true;
    const { chosen, classic, f } = selector('auto', () => (fHas404 ? { status: 404, step: 'sentinel_prepare' } : 'ok'));
    const log = jest.spyOn(Logger.prototype, 'log');

    expect((await chosen.prepare(input('a'))).flow).toBe('classic');
    expect((await chosen.prepare(input('a'))).flow).toBe('classic');
    expect(f.prepare).toHaveBeenCalledTimes(1);
    expect(classic.prepare).toHaveBeenCalledTimes(2);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toContain('account a');

    fHas404 = false;
    expect((await chosen.prepare(input('b'))).flow).toBe('f');

    now += CLASSIC_FALLBACK_TTL_MS - 1;
    expect((await chosen.prepare(input('a'))).flow).toBe('classic');
    now += 2;
    expect((await chosen.prepare(input('a'))).flow).toBe('f');
  });

  it('goes on while Redis does not answer: the new flow is tried, and a fallback is remembered in this process', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { chosen, f } = selector('auto', () => ({ status: 404, step: 'sentinel_prepare' }), new DownSharedState());

    expect((await chosen.prepare(input('a'))).flow).toBe('classic');
    expect((await chosen.prepare(input('a'))).flow).toBe('classic');
    expect(f.prepare).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
