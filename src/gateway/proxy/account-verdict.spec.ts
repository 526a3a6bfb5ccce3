import { accountVerdict } from './account-verdict';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const HTML = { 'content-type': 'text/html; charset=UTF-8' };

describe('accountVerdict', () => {
  const expired = json({ detail: 'Your authentication token has expired.' });
  const deactivated = json({
    detail: { code: 'account_deactivated', message: 'You do not have an account because it has been deactivated.' },
  });

  it.each(['/backend-api/me', '/backend-api/models?iim=false', '/backend-api/accounts/check/v4-2023-04-27', '/backend-alt/conversation'])(
    "reads a 401 on the account's own call %s as a refused AccessToken",
    (path) => {
      expect(accountVerdict(path, 401, {}, expired)).toEqual({ kind: 'unauthorized' });
    },
  );

  // A seed picks any path: there an answer may be about what the call touched, not about the shared pool account.
  it.each([
    [403, '/backend-api/gizmos/g-abc123', { detail: "This GPT is no longer available: its builder's account has been suspended." }],
    [403, '/backend-api/aip/connectors/links/list_accessible', { detail: 'Connectors have been deactivated by your workspace admin.' }],
    [401, '/backend-api/aip/connectors/links/list_accessible', { detail: 'The connection to Google Drive has expired.' }],
  ])('does not take a %i on %s, about something else, for a verdict on the account', (status, path, body) => {
    expect(accountVerdict(path, status, {}, json(body))).toBeNull();
  });

  it('takes an answer whose code names the account deactivated for a verdict on any call', () => {
    expect(accountVerdict('/backend-api/gizmos/g-abc123', 403, {}, deactivated)).toMatchObject({ kind: 'forbidden' });
    expect(accountVerdict('/backend-api/files/file-1', 401, {}, deactivated)).toEqual({ kind: 'unauthorized' });
  });

  it('reads a 403 as the account set aside only when it says deactivated, banned or suspended', () => {
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
