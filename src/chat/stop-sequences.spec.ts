import { StopSequences, stopSequencesOf } from './stop-sequences';

/** Feeds `chunks` one by one, then ends: the text released, and whether a stop string ended it. */
function run(sequences: string[], chunks: string[]): { text: string; stopped: boolean; releases: string[] } {
  const stops = new StopSequences(sequences);
  const releases: string[] = [];
  let stopped = false;
  for (const chunk of chunks) {
    const cut = stops.push(chunk);
    releases.push(cut.released);
    stopped ||= cut.stopped;
  }
  const last = stops.flush();
  releases.push(last.released);
  stopped ||= last.stopped;
  return { text: releases.join(''), stopped, releases };
}

describe('StopSequences', () => {
  it('passes text through unchanged when no stop string occurs, holding back only a possible start', () => {
    const { text, stopped, releases } = run(['Observation:'], ['The answer ', 'is 42. Obs', 'cure facts follow.']);
    expect(text).toBe('The answer is 42. Obscure facts follow.');
    expect(stopped).toBe(false);
    // "Obs" waited for the next chunk, which showed it was no stop string.
    expect(releases).toEqual(['The answer ', 'is 42. ', 'Obscure facts follow.', '']);
  });

  it('cuts before a stop string split across chunks and drops everything after it', () => {
    const { text, stopped, releases } = run(['Observation:'], ['Action: search\nObs', 'erva', 'tion: the tool said', ' more']);
    expect(text).toBe('Action: search\n');
    expect(stopped).toBe(true);
    expect(releases).toEqual(['Action: search\n', '', '', '', '']);
  });

  it('cuts at a stop string at the very start: nothing is released', () => {
    expect(run(['\n\nUser:'], ['\n\nUser: hi'])).toEqual({ text: '', stopped: true, releases: ['', ''] });
    expect(run(['\n\nUser:'], ['\n', '\n', 'User:', ' hi'])).toMatchObject({ text: '', stopped: true });
  });

  it('cuts at the earliest of several stop strings, whichever is listed first', () => {
    expect(run(['END', 'stop'], ['please stop here, then END'])).toMatchObject({ text: 'please ', stopped: true });
    expect(run(['END', 'stop'], ['first END, then stop'])).toMatchObject({ text: 'first ', stopped: true });
  });

  it('cuts where the whole text would be cut, however it is chunked, when candidates overlap', () => {
    const sequences = ['abcd', 'bc'];
    // "bc" is complete after "abc", but "abcd" starting one character earlier may still complete: it wins when it does.
    expect(run(sequences, ['xab', 'c', 'd tail'])).toMatchObject({ text: 'x', stopped: true });
    expect(run(sequences, ['xabcd tail'])).toMatchObject({ text: 'x', stopped: true });
    // When it does not, the cut is at "bc".
    expect(run(sequences, ['xab', 'c', 'e tail'])).toMatchObject({ text: 'xa', stopped: true });
    // The answer ends with the shorter one complete and the longer one not: still cut at "bc".
    expect(run(sequences, ['xab', 'c'])).toMatchObject({ text: 'xa', stopped: true });
  });

  it('holds back a repeated prefix until it resolves ("aab" with stop "ab")', () => {
    expect(run(['ab'], ['a', 'a', 'b'])).toMatchObject({ text: 'a', stopped: true });
    expect(run(['ab'], ['a', 'a', 'c'])).toMatchObject({ text: 'aac', stopped: false });
  });

  it('releases a held possible start when the answer ends without the rest of it', () => {
    expect(run(['Observation:'], ['Thought: done. Observ'])).toEqual({
      text: 'Thought: done. Observ',
      stopped: false,
      releases: ['Thought: done. ', 'Observ'],
    });
  });

  it('reads text after a flush afresh and drops everything after a stop', () => {
    const stops = new StopSequences(['STOP']);
    expect(stops.push('one ST')).toEqual({ released: 'one ', stopped: false });
    expect(stops.flush()).toEqual({ released: 'ST', stopped: false });
    expect(stops.push('OP two STOP three')).toEqual({ released: 'OP two ', stopped: true });
    expect(stops.push('four')).toEqual({ released: '', stopped: true });
    expect(stops.flush()).toEqual({ released: '', stopped: true });
  });
});

describe('stopSequencesOf', () => {
  it('reads a string, an array or null, leaving out empty strings (they would stop every answer before it began)', () => {
    expect(stopSequencesOf(undefined)).toEqual([]);
    expect(stopSequencesOf(null)).toEqual([]);
    expect(stopSequencesOf('')).toEqual([]);
    expect(stopSequencesOf('\n\nUser:')).toEqual(['\n\nUser:']);
    expect(stopSequencesOf(['Observation:', '', 'END'])).toEqual(['Observation:', 'END']);
  });
});
