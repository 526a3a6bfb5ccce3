import { PassThrough } from 'node:stream';
import { fingerprintFor } from '../../upstream/fingerprint';
import type { UpstreamClient, UpstreamRequest, UpstreamStream } from '../../upstream/upstream.client';
import type { ConversationRequest } from '../conversation.service';
import { postConversation } from './send-flow';

describe('postConversation', () => {
  // Raised for a relay that sends its headers with the first token of a slow reasoning model, it was cut to 30 s.
  it('waits for the response headers as long as UPSTREAM_FIRST_BYTE_TIMEOUT_MS says, above 30 s too', async () => {
    const seen: UpstreamRequest[] = [];
    const upstream = {
      stream: (request: UpstreamRequest): Promise<UpstreamStream> => {
        seen.push(request);
        const body = new PassThrough();
        body.end('data: [DONE]\n\n');
        return Promise.resolve({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
      },
    } as unknown as UpstreamClient;
    const request = { model: { slug: 'o1-pro', requested: 'o1-pro' } } as unknown as ConversationRequest;
    const post = {
      url: 'https://relay.example/backend-api/conversation',
      identity: { fingerprint: fingerprintFor('a', [], []) },
      headers: {},
      body: {},
      request,
      firstByteTimeoutMs: 120_000,
    };
    await postConversation(upstream, post, new AbortController().signal);
    expect(seen[0].timeoutMs).toBe(120_000);
  });
});
