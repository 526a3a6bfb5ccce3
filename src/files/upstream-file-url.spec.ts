import { isUpstreamFileUrl } from './upstream-file-url';

describe('isUpstreamFileUrl', () => {
  const bases = ['https://chatgpt.com', 'http://127.0.0.1:4100', 'https://files.oaiusercontent.com'];

  it.each([
    'https://files.oaiusercontent.com/file-abc?se=2025&sig=x',
    'https://sdmntprwestus.oaiusercontent.com/files/abc/raw?sig=x',
    'https://chatgpt.com/backend-api/estuary/content?id=file-1',
    'http://127.0.0.1:4100/download/file-1?sig=x',
  ])('accepts the upstream file host %s', (url) => {
    expect(isUpstreamFileUrl(url, bases)).toBe(true);
  });

  it.each([
    'http://169.254.169.254/latest/meta-data',
    'http://127.0.0.1:22/',
    'http://127.0.0.1:4101/download/file-1',
    'https://oaiusercontent.com.evil.example/x',
    'https://evil-oaiusercontent.com/x',
    'http://files.oaiusercontent.com/x',
    'https://user:pass@files.oaiusercontent.com/x',
    'file:///etc/passwd',
    'not a url',
  ])('refuses %s', (url) => {
    expect(isUpstreamFileUrl(url, bases)).toBe(false);
  });
});
