import { BackgroundWork } from './background-work';

/** A promise settled by hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('BackgroundWork', () => {
  it('passes on what the work answers, failures included, and counts it while it runs', async () => {
    const work = new BackgroundWork();
    const answer = deferred<string>();
    const failure = deferred<string>();
    const answered = work.track(() => answer.promise);
    const failed = work.track(() => failure.promise);
    expect(work.size).toBe(2);
    answer.resolve('renewed');
    failure.reject(new Error('auth server down'));
    await expect(answered).resolves.toBe('renewed');
    await expect(failed).rejects.toThrow('auth server down');
    expect(work.size).toBe(0);
  });

  it('settles once every tracked work has, work started while waiting included', async () => {
    const work = new BackgroundWork();
    const first = deferred();
    const second = deferred();
    void work.track(() => first.promise);
    work.stop();
    expect(work.accepting).toBe(false);
    const settled = work.whenSettled(600_000);
    // Work a request still in flight starts after the shutdown began is waited for too.
    void work.track(() => second.promise);
    first.resolve();
    await new Promise(setImmediate);
    expect(work.size).toBe(1);
    second.resolve();
    expect(await settled).toBe(true);
    expect(work.size).toBe(0);
  });

  it('gives up on work that does not settle within the time given', async () => {
    const work = new BackgroundWork();
    void work.track(() => new Promise(() => undefined));
    expect(await work.whenSettled(0)).toBe(false);
    expect(await new BackgroundWork().whenSettled(0)).toBe(true);
  });
});
