import { fakeRefreshToken } from '../token-pool/testing/fixtures';
import { type PoolServices, poolSpecSetup } from '../token-pool/testing/pool-services';
import { CredentialService } from './credential.service';

describe('CredentialService', () => {
  const t = poolSpecSetup();
  const rt = fakeRefreshToken('rt');
  const credentialsOver = (pool: PoolServices) => new CredentialService(pool.leaser, pool.seeds, pool.exchanger, pool.sessions);

  it('tells the pool which AccessToken a 401 was for, so a refusal of one the account has replaced since changes nothing', async () => {
    const pool = t.newPool();
    const credentials = credentialsOver(pool);
    await pool.admin.upload([rt]);
    const use = (await credentials.acquire({ kind: 'pool' }, new Set()))!;
    await pool.refresher.refresh({ force: true });
    expect(t.server.requests).toHaveLength(2);
    await credentials.report(use, { kind: 'unauthorized' });
    expect(t.server.requests).toHaveLength(2);
    expect((await pool.readModel.list())[0]).toMatchObject({ state: 'active' });
  });
});
