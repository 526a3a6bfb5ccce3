import { parseHandoffFrame, readHandoffEvent, resumeBody, sseEvent, subscribeMessages, turnTopic } from './handoff-frames';

describe('hand-off frames', () => {
  it('subscribes to conversation-turn-{turn_exchange_id} after connect', () => {
    const topic = turnTopic({ turnExchangeId: 'abc-1' });
    expect(topic).toBe('conversation-turn-abc-1');
    expect(subscribeMessages(topic).map((message) => JSON.parse(message))).toEqual([
      { type: 'connect' },
      { type: 'subscribe', topic: 'conversation-turn-abc-1' },
    ]);
  });

  it('prefers the topic the stub names', () => {
    expect(turnTopic({ turnExchangeId: 'abc-1', topic: 'conversation-turn-other' })).toBe('conversation-turn-other');
  });

  it('reads a stream_handoff event, with turn_id as a fallback and the topic from its options', () => {
    expect(
      readHandoffEvent({
        type: 'stream_handoff',
        conversation_id: 'c1',
        turn_exchange_id: 't1',
        options: { topic_id: 'conversation-turn-t1' },
      }),
    ).toEqual({
      conversationId: 'c1',
      turnExchangeId: 't1',
      topic: 'conversation-turn-t1',
    });
    expect(readHandoffEvent({ type: 'stream_handoff', conversation_id: 'c1', turn_id: 't2' })).toMatchObject({
      turnExchangeId: 't2',
      topic: undefined,
    });
    expect(readHandoffEvent({ type: 'input_message' })).toBeUndefined();
    expect(readHandoffEvent('v1')).toBeUndefined();
  });

  it('asks resume for the turn from the first item not yet delivered', () => {
    expect(resumeBody({ conversationId: 'c1', turnExchangeId: 't1' }, 7)).toEqual({
      conversation_id: 'c1',
      turn_exchange_id: 't1',
      offset: 7,
    });
  });

  it('reads an item carrying the raw SSE text of one event', () => {
    const frame = parseHandoffFrame(
      JSON.stringify({
        type: 'message',
        topic: 'conversation-turn-t1',
        offset: 3,
        payload: { encoded_item: 'event: delta\ndata: {"v":"Hi"}\n\n' },
      }),
    );
    expect(frame).toEqual({ kind: 'item', topic: 'conversation-turn-t1', offset: 3, sse: 'event: delta\ndata: {"v":"Hi"}\n\n' });
  });

  it('ends an item that lacks the blank line, so events never run together', () => {
    expect(parseHandoffFrame(JSON.stringify({ type: 'message', payload: 'data: [DONE]' }))).toEqual({
      kind: 'item',
      topic: undefined,
      offset: undefined,
      sse: 'data: [DONE]\n\n',
    });
    expect(parseHandoffFrame(JSON.stringify({ type: 'message', payload: { encoded_item: 'data: x\n' } }))).toMatchObject({
      sse: 'data: x\n\n',
    });
  });

  it('writes an {event, data} payload back as SSE, data objects as JSON', () => {
    expect(
      parseHandoffFrame(
        JSON.stringify({ type: 'message', payload: { event: 'delta', data: { p: '/message/content/parts/0', o: 'append', v: 'a' } } }),
      ),
    ).toMatchObject({
      kind: 'item',
      sse: 'event: delta\ndata: {"p":"/message/content/parts/0","o":"append","v":"a"}\n\n',
    });
    expect(sseEvent(undefined, 'one\ntwo')).toBe('data: one\ndata: two\n\n');
  });

  it('ignores a negative or fractional offset rather than trusting it', () => {
    expect(parseHandoffFrame(JSON.stringify({ type: 'message', offset: -1, payload: 'data: x' }))).toMatchObject({ offset: undefined });
    expect(parseHandoffFrame(JSON.stringify({ type: 'message', offset: 1.5, payload: 'data: x' }))).toMatchObject({ offset: undefined });
  });

  it('reads server errors, with or without a topic', () => {
    expect(parseHandoffFrame(JSON.stringify({ type: 'error', topic: 'conversation-turn-t1', message: 'no such topic' }))).toEqual({
      kind: 'error',
      topic: 'conversation-turn-t1',
      message: 'no such topic',
    });
    expect(parseHandoffFrame(JSON.stringify({ type: 'error', error: { message: 'token expired' } }))).toEqual({
      kind: 'error',
      topic: undefined,
      message: 'token expired',
    });
  });

  it.each([
    ['{"type":"connected"}'],
    ['{"type":"subscribed","topic":"conversation-turn-t1"}'],
    ['not json'],
    ['[1,2]'],
    ['{"type":"message"}'],
    ['{"type":"message","payload":{"other":1}}'],
  ])('treats %s as nothing for the answer', (text) => {
    expect(parseHandoffFrame(text)).toEqual({ kind: 'other' });
  });
});
