import { identifiersInProfile, identifiersInWorkspaces } from './account-identifiers.service';

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

describe('identifiersInWorkspaces', () => {
  it("takes every workspace's account id, the user's id in it, its organization and its name", () => {
    const personal = '0a11ce00-0000-4000-8000-0000000acc01';
    const team = '7e57a11c-0000-4000-8000-00000000feed';
    const account = { accessToken: 'at', chatgptAccountId: team, fingerprintKey: 'k', privateIdentifiers: [] };
    const document = {
      accounts: {
        default: { account: { account_id: personal, account_user_id: `user-x__${personal}`, organization_id: null, name: null } },
        [team]: { account: { account_id: team, account_user_id: `user-x__${team}`, organization_id: 'org-team', name: 'Acme Team' } },
      },
    };
    expect(identifiersInWorkspaces(document, account).sort()).toEqual(
      [team, personal, `user-x__${personal}`, `user-x__${team}`, 'org-team', 'Acme Team'].sort(),
    );
  });
});
