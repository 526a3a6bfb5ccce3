import { Logger } from '@nestjs/common';
import { StoreUnavailableError } from '../errors/store-unavailable.error';
import { LocalWhileStoreDown } from './local-while-store-down';

describe('LocalWhileStoreDown', () => {
  const logger = new Logger('test');
  let warnings: string[];
  let notes: string[];
  beforeEach(() => {
    warnings = [];
    notes = [];
    jest.spyOn(logger, 'warn').mockImplementation((message: string) => void warnings.push(message));
    jest.spyOn(logger, 'log').mockImplementation((message: string) => void notes.push(message));
  });
  afterEach(() => jest.restoreAllMocks());

  const down = new StoreUnavailableError('Redis at redis://***@cache:6379', new Error('connect ECONNREFUSED'));

  it('goes to the local state while the store does not answer, and says so once each way, naming the store without credentials', async () => {
    let storeDown = false;
    const shared = { name: 'shared' };
    const fallback = new LocalWhileStoreDown(shared, { name: 'local' }, logger, 'counting guesses');
    const call = (state: { name: string }) => (storeDown && state === shared ? Promise.reject(down) : Promise.resolve(state.name));

    expect(await fallback.run(call)).toBe('shared');
    storeDown = true;
    expect([await fallback.run(call), await fallback.run(call), await fallback.run(call)]).toEqual(['local', 'local', 'local']);
    storeDown = false;
    expect([await fallback.run(call), await fallback.run(call)]).toEqual(['shared', 'shared']);

    expect(warnings).toEqual([
      'counting guesses in this process while the store does not answer: Redis at redis://***@cache:6379 is not answering (connect ECONNREFUSED)',
    ]);
    expect(notes).toEqual(['counting guesses in the store again']);
  });

  it('keeps to the local state, without asking the store, while `staysLocal` says what was counted there still decides', async () => {
    const asked: string[] = [];
    const fallback = new LocalWhileStoreDown('shared', 'local', logger, 'counting guesses');
    const call = (state: string) => Promise.resolve(void asked.push(state));
    let locked = true;
    const staysLocal = (state: string) => Promise.resolve(state === 'local' && locked);
    await fallback.run(call, staysLocal);
    locked = false;
    await fallback.run(call, staysLocal);
    await fallback.run(call);
    expect(asked).toEqual(['local', 'shared', 'shared']);
    // Without Redis there is no local state: the store is asked.
    await new LocalWhileStoreDown('shared', null, logger, 'x').run(call, () => Promise.resolve(true));
    expect(asked.at(-1)).toBe('shared');
  });

  it('throws what is not the store being down, and everything when there is no local state (no Redis)', async () => {
    const bug = new TypeError('a bug');
    await expect(new LocalWhileStoreDown('shared', 'local', logger, 'x').run(() => Promise.reject(bug))).rejects.toBe(bug);
    await expect(new LocalWhileStoreDown('shared', null, logger, 'x').run(() => Promise.reject(down))).rejects.toBe(down);
    expect(warnings).toEqual([]);
  });
});
