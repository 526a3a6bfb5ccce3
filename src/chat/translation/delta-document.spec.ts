import { growthRatio, LINEAR_GROWTH_LIMIT } from '../../common/testing/growth';
import { DeltaDocument, DeltaError, DeltaOperation, parseDeltaPath } from './delta-document';

function message(parts: string[] = ['']) {
  return { message: { id: 'm1', content: { content_type: 'text', parts }, status: 'in_progress', metadata: {} }, error: null };
}

describe('parseDeltaPath', () => {
  it('splits paths and undoes ~1 and ~0 escapes, in that order', () => {
    expect(parseDeltaPath('')).toEqual([]);
    expect(parseDeltaPath('/message/content/parts/0')).toEqual(['message', 'content', 'parts', '0']);
    expect(parseDeltaPath('/a~1b/c~0d/~01')).toEqual(['a/b', 'c~d', '~1']);
    expect(parseDeltaPath('/')).toEqual(['']);
  });

  it('rejects a path that does not start with /', () => {
    expect(() => parseDeltaPath('message')).toThrow(DeltaError);
  });
});

describe('DeltaDocument', () => {
  it('adds at the root, then appends to a string in place', () => {
    const document = new DeltaDocument();
    document.apply({ p: '', o: 'add', v: message() });
    document.apply({ p: '/message/content/parts/0', o: 'append', v: 'Hel' });
    document.apply({ p: '/message/content/parts/0', o: 'append', v: 'lo' });
    expect(document.get('/message/content/parts/0')).toBe('Hello');
  });

  it('appends items to arrays and keys to objects', () => {
    const document = new DeltaDocument(message());
    document.apply({ p: '/message/content/parts', o: 'append', v: ['b', 'c'] });
    document.apply({ p: '/message/content/parts', o: 'append', v: 'd' });
    document.apply({ p: '/message/metadata', o: 'append', v: { is_complete: true, finish_details: { type: 'stop' } } });
    document.apply({ p: '/message/metadata/citations', o: 'append', v: [{ url: 'u' }] });
    expect(document.get('/message/content/parts')).toEqual(['', 'b', 'c', 'd']);
    expect(document.get('/message/metadata')).toEqual({ is_complete: true, finish_details: { type: 'stop' }, citations: [{ url: 'u' }] });
  });

  it('replaces, truncates and removes', () => {
    const document = new DeltaDocument(message(['Hello world', 'x', 'y']));
    document.apply({ p: '/message/status', o: 'replace', v: 'finished_successfully' });
    document.apply({ p: '/message/content/parts/0', o: 'truncate', v: 5 });
    document.apply({ p: '/message/content/parts', o: 'truncate', v: 2 });
    document.apply({ p: '/message/metadata', o: 'remove' });
    expect(document.value).toEqual({
      message: { id: 'm1', content: { content_type: 'text', parts: ['Hello', 'x'] }, status: 'finished_successfully' },
      error: null,
    });
    document.apply({ p: '/message/content/parts/0', o: 'remove' });
    expect(document.get('/message/content/parts')).toEqual(['x']);
  });

  it('applies a patch in order, with the patch path as a prefix, reporting each applied delta', () => {
    const document = new DeltaDocument(message(['Hi']));
    const applied: DeltaOperation[] = [];
    document.apply(
      {
        p: '/message',
        o: 'patch',
        v: [
          { p: '/content/parts/0', o: 'append', v: '!' },
          { p: '', o: 'patch', v: [{ p: '/status', o: 'replace', v: 'finished_successfully' }] },
          { p: '/end_turn', o: 'add', v: true },
        ],
      },
      (delta) => applied.push(delta),
    );
    expect(document.get('/message/content/parts/0')).toBe('Hi!');
    expect(document.get('/message/status')).toBe('finished_successfully');
    expect(document.get('/message/end_turn')).toBe(true);
    expect(applied.map((delta) => `${delta.o} ${delta.p}`)).toEqual([
      'append /message/content/parts/0',
      'replace /message/status',
      'add /message/end_turn',
    ]);
  });

  it('handles escaped keys and array ends', () => {
    const document = new DeltaDocument({ 'a/b': { '~': [] } });
    document.apply({ p: '/a~1b/~0/-', o: 'add', v: 1 });
    document.apply({ p: '/a~1b/~0/1', o: 'add', v: 2 });
    expect(document.value).toEqual({ 'a/b': { '~': [1, 2] } });
  });

  it('creates missing objects on the way for add, append and replace', () => {
    const document = new DeltaDocument({ message: {} });
    document.apply({ p: '/message/metadata/finish_details', o: 'replace', v: { type: 'stop' } });
    expect(document.get('/message/metadata/finish_details/type')).toBe('stop');
  });

  it('throws a DeltaError for deltas that do not fit', () => {
    const document = new DeltaDocument(message(['text']));
    expect(() => document.apply({ p: '/message/content/parts/0', o: 'append', v: 5 })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/message/content/parts/7', o: 'add', v: 'x' })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/message/content/parts/x', o: 'add', v: 'x' })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/message/content/parts/0/deeper', o: 'add', v: 'x' })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/message/status', o: 'truncate', v: -1 })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/message/missing/key', o: 'remove' })).toThrow(DeltaError);
    expect(() => document.apply({ p: '', o: 'patch', v: 'not a list' })).toThrow(DeltaError);
    expect(() => document.apply({ p: '', o: 'explode' as never, v: 1 })).toThrow(DeltaError);
    expect(() => document.apply({ p: '/__proto__', o: 'add', v: { polluted: true } })).toThrow(DeltaError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('appends a long text in linear time', () => {
    const append = (count: number) => {
      const document = new DeltaDocument(message());
      for (let i = 0; i < count; i += 1) document.apply({ p: '/message/content/parts/0', o: 'append', v: 'abcde' });
      expect((document.get('/message/content/parts/0') as string).length).toBe(5 * count);
    };
    // 16x the appends may take at most 48x the time: copying the text on each append would take 256x.
    expect(growthRatio(append, 2_500)).toBeLessThanOrEqual(LINEAR_GROWTH_LIMIT);
  });
});
