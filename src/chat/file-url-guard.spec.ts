import { assertPublicUrl, isPrivateAddress } from './file-url-guard';

describe('file URL guard', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '0.0.0.0',
    '::7f00:1',
    '64:ff9b::7f00:1',
    '::ffff:7f00:1',
    '::ffff:0:7f00:1',
    '2002:7f00:1::',
    'fec0::1',
    'feff:ffff::1',
  ])('treats %s as private', (address) => expect(isPrivateAddress(address)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700::1111'])('treats %s as public', (address) => expect(isPrivateAddress(address)).toBe(false));

  it('refuses URLs naming or resolving to private hosts', async () => {
    await expect(assertPublicUrl(new URL('http://127.0.0.1:8080/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://localhost/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://[::1]/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://[fec0::1]/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://8.8.8.8/x.png'))).resolves.toBeUndefined();
  });

  it('resolves names and refuses one when any of its addresses is private', async () => {
    const lookup = (map: Record<string, string[]>) => async (host: string) => map[host] ?? [];
    const resolver = lookup({
      'files.example.com': ['93.184.216.34', '10.0.0.5'],
      'cdn.example.com': ['93.184.216.34'],
      'meta.example.com': ['169.254.169.254'],
    });
    await expect(assertPublicUrl(new URL('https://files.example.com/a.png'), resolver)).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('https://meta.example.com/latest'), resolver)).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('https://nothing.example.com/a.png'), resolver)).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('https://cdn.example.com/a.png'), resolver)).resolves.toBeUndefined();
  });

  it('refuses internal-only names whatever they resolve to', async () => {
    await expect(assertPublicUrl(new URL('http://db.internal/x'), async () => ['93.184.216.34'])).rejects.toThrow('not a public address');
  });

  it.each([
    'http://db.internal./x',
    'http://metadata.google.internal../x',
    'http://localhost./x',
    'http://printer.local./x',
    'http://app.localhost./x',
  ])('refuses the internal-only name %s written with a trailing dot (the same name to DNS)', async (url) => {
    await expect(assertPublicUrl(new URL(url), async () => ['93.184.216.34'])).rejects.toThrow('not a public address');
  });
});
