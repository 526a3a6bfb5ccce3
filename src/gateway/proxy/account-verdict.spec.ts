import { accountVerdict } from './account-verdict';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const HTML = { 'content-type': 'text/html; charset=UTF-8' };

describe('accountVerdict', () => {
  it('reads a 401 as a refused AccessToken, on any path', () => {
    expect(accountVerdict('/backend-api/models', 401, {}, json({ detail: 'Your authentication token has expired.' }))).toEqual({
      kind: 'unauthorized',
    });
  });

  it('reads a 403 as the account set aside only when it says deactivated, banned or suspended', () => {
    const deactivated = json({
      detail: { code: 'account_deactivated', message: 'You do not have an account because it has been deactivated.' },
    });
    expect(accountVerdict('/backend-api/conversation', 403, {}, deactivated)).toMatchObject({ kind: 'forbidden' });
    expect(accountVerdict('/backend-api/gizmos/g-1', 403, {}, json({ detail: 'This feature is not available on your plan.' }))).toBeNull();
    const challenge = Buffer.from('<html><script>window._cf_chl_opt={}</script></html>');
    expect(accountVerdict('/backend-api/conversation', 403, { ...HTML, 'cf-mitigated': 'challenge' }, challenge)).toBeNull();
  });

  it("reads a 429 as the account's limit on the conversation and its sentinel only, with the reset hint", () => {
    const limited = json({ detail: { message: 'You have sent too many messages.', clears_in: 120 } });
    expect(accountVerdict('/backend-api/f/conversation', 429, {}, limited)).toEqual({ kind: 'rate_limited', retryAfterSec: 120 });
    expect(accountVerdict('/backend-api/sentinel/chat-requirements/prepare', 429, { 'retry-after': '30' }, json({}))).toEqual({
      kind: 'rate_limited',
      retryAfterSec: 30,
    });
    expect(accountVerdict('/backend-api/conversations?offset=0', 429, {}, limited)).toBeNull();
  });

  it('says nothing about other answers', () => {
    expect(accountVerdict('/backend-api/conversation', 400, {}, json({ detail: 'bad' }))).toBeNull();
    expect(accountVerdict('/backend-api/conversation', 500, {}, json({ detail: 'oops' }))).toBeNull();
  });
});
