import { identifiersInProfile } from './account-identifiers.service';

describe('identifiersInProfile', () => {
  it("takes the picture and its Gravatar hash, which is the email's MD5", () => {
    const hash = '0bc83cb571cd1c50ba6f3e8a78ef1346';
    const picture = `https://s.gravatar.com/avatar/${hash}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fal.png`;
    expect(identifiersInProfile({ id: 'user-abc123', email: 'alice@example.com', name: 'alice', picture })).toEqual([
      'user-abc123',
      'alice@example.com',
      'alice',
      picture,
      hash,
    ]);
  });

  it('takes no picture that is not a string', () => {
    expect(identifiersInProfile({ id: 'user-abc123', picture: null })).toEqual(['user-abc123']);
  });
});
