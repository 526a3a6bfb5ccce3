import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiError } from '../common/errors/api-error';
import { LargeBody, ReadsBody } from '../common/http/request-body';
import type { AccountCounts, AccountView, RefreshSummary, SeedView, UploadResult } from '../token-pool/pool.types';
import { PoolAdmin } from '../token-pool/pool-admin';
import { PoolReadModel } from '../token-pool/pool-read-model';
import { PoolRefresher } from '../token-pool/pool-refresher';
import { SeedRegistry } from '../token-pool/seed-registry';
import { AdminAccess } from './admin-auth.guard';
import { CreateSeedDto, ListTokensQuery, RefreshAccountsDto, RemoveSeedDto, UploadTokensDto } from './dto/admin-api.dto';

/** The admin's powers as JSON, for automation. Accounts only ever appear masked. */
@Controller('admin/api')
@AdminAccess('api')
export class AdminApiController {
  constructor(
    private readonly readModel: PoolReadModel,
    private readonly accounts: PoolAdmin,
    private readonly refresher: PoolRefresher,
    private readonly seedRegistry: SeedRegistry,
  ) {}

  /** The accounts (a page of them with `offset` and `limit`), and the counts of the whole pool. */
  @Get('tokens')
  async list(@Query() query: ListTokensQuery): Promise<{ data: AccountView[]; counts: AccountCounts }> {
    const [accounts, counts] = await Promise.all([this.readModel.list(), this.readModel.counts()]);
    const start = Number(query.offset ?? 0);
    const data = accounts.slice(start, query.limit === undefined ? undefined : start + Number(query.limit));
    return { data, counts };
  }

  @Post('tokens')
  @ReadsBody()
  @HttpCode(200)
  @LargeBody()
  upload(@Body() body: UploadTokensDto): Promise<UploadResult> {
    return this.accounts.upload(body.tokens);
  }

  @Delete('tokens')
  async clear(): Promise<{ removed: number }> {
    return { removed: await this.accounts.clear() };
  }

  @Delete('tokens/:id')
  async remove(@Param('id') id: string): Promise<{ id: string; deleted: true }> {
    if (!(await this.accounts.remove(id))) throw unknownAccount(id);
    return { id, deleted: true };
  }

  @Post('tokens/:id/restore')
  @HttpCode(200)
  async restore(@Param('id') id: string): Promise<AccountView> {
    if (!(await this.accounts.restore(id))) throw unknownAccount(id);
    const account = await this.readModel.findView(id);
    if (!account) throw unknownAccount(id);
    return account;
  }

  @Post('refresh')
  @ReadsBody()
  @HttpCode(200)
  async refresh(@Body() body: RefreshAccountsDto = {}): Promise<RefreshSummary> {
    if (body.id !== undefined && !(await this.readModel.findView(body.id))) throw unknownAccount(body.id);
    return this.refresher.refresh({ id: body.id, force: body.force });
  }

  @Get('seeds')
  async seeds(): Promise<{ data: SeedView[] }> {
    return { data: await this.seedRegistry.listSeeds() };
  }

  /**
   * Answers the seed itself this once, so that it can be handed to its user: 201 for a new seed, 200 for one that was
   * already the admin's (nothing changed).
   */
  @Post('seeds')
  @ReadsBody()
  async createSeed(@Body() body: CreateSeedDto = {}, @Res({ passthrough: true }) response: Response): Promise<{ seed: string }> {
    const { seed, created } = await this.seedRegistry.createSeedReporting(body.seed);
    if (!created) response.status(200);
    return { seed };
  }

  /**
   * With `{"seed"}`: that seed. Every seed only when asked in so many words (`{"all": true}` or `?all=true`):
   * a body that did not parse (JSON sent as a form or as text) must not read as "remove everything".
   */
  @Delete('seeds')
  @ReadsBody()
  async removeSeed(@Body() body: RemoveSeedDto = {}, @Query('all') allInQuery?: string): Promise<{ deleted: true } | { removed: number }> {
    const all = body.all === true || allInQuery === 'true';
    if (all && body.seed !== undefined) {
      throw ApiError.of('invalid_value', { param: 'all', problem: "send either 'seed' or 'all', not both" }, { param: 'all' });
    }
    if (all) return { removed: await this.seedRegistry.clearSeeds() };
    if (!body.seed?.trim()) {
      throw ApiError.of(
        'missing_required_parameter',
        { param: 'seed', hint: ' (a JSON body {"seed": "…"}; to remove every seed, {"all": true} or ?all=true)' },
        { param: 'seed' },
      );
    }
    if (!(await this.seedRegistry.removeSeed(body.seed))) throw ApiError.of('seed_not_found', {});
    return { deleted: true };
  }

  @Delete('seeds/:id')
  async removeSeedById(@Param('id') id: string): Promise<{ id: string; deleted: true }> {
    if (!(await this.seedRegistry.removeSeedById(id))) throw ApiError.of('seed_id_not_found', { id });
    return { id, deleted: true };
  }
}

function unknownAccount(id: string): ApiError {
  return ApiError.of('account_not_found', { id });
}
