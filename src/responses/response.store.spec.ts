import type { AppConfig } from '../config/app-config';
import { ResponseStore } from './response.store';
import type { ResponseObject } from './response-shapes';

const response = (id: string) => ({ id, object: 'response', output: [] }) as unknown as ResponseObject;

describe('ResponseStore', () => {
  const store = (max: number) => new ResponseStore({ responsesStoreMax: max, responsesStoreTtlSec: 3600 } as AppConfig);

  it('gives a response only to the key that stored it', () => {
    const responses = store(10);
    responses.save({ owner: 'a', response: response('resp_1'), continuation: { conversationId: 'c', parentMessageId: 'm' } });
    expect(responses.find('resp_1', 'a')?.continuation).toEqual({ conversationId: 'c', parentMessageId: 'm' });
    expect(responses.find('resp_1', 'b')).toBeUndefined();
    expect(responses.find('resp_2', 'a')).toBeUndefined();
  });

  it('keeps copies, so a caller changing its object does not change what is stored', () => {
    const responses = store(10);
    const kept = response('resp_1');
    responses.save({ owner: 'a', response: kept });
    kept.output.push({ type: 'reasoning', id: 'rs', summary: [] });
    responses.find('resp_1', 'a')!.response.output.push({ type: 'reasoning', id: 'rs', summary: [] });
    expect(responses.find('resp_1', 'a')!.response.output).toEqual([]);
  });

  it('drops the least recently used response beyond RESPONSES_STORE_MAX', () => {
    const responses = store(2);
    responses.save({ owner: 'a', response: response('resp_1') });
    responses.save({ owner: 'a', response: response('resp_2') });
    responses.find('resp_1', 'a');
    responses.save({ owner: 'a', response: response('resp_3') });
    expect(responses.find('resp_2', 'a')).toBeUndefined();
    expect(responses.find('resp_1', 'a')).toBeDefined();
    expect(responses.find('resp_3', 'a')).toBeDefined();
  });
});
