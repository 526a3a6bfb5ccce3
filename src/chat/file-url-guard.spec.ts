import { assertPublicUrl, isPrivateAddress } from './file-url-guard';

describe('file URL guard', () => {
  it.each(['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1', '0.0.0.0', '::7f00:1', '64:ff9b::7f00:1'])(
    'treats %s as private',
    (address) => expect(isPrivateAddress(address)).toBe(true),
  );

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700::1111'])('treats %s as public', (address) => expect(isPrivateAddress(address)).toBe(false));

  it('refuses URLs naming or resolving to private hosts', async () => {
    await expect(assertPublicUrl(new URL('http://127.0.0.1:8080/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://localhost/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://[::1]/x.png'))).rejects.toThrow('not a public address');
    await expect(assertPublicUrl(new URL('http://8.8.8.8/x.png'))).resolves.toBeUndefined();
  });
});
