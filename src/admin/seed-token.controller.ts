import { Body, Controller, Delete, Get, HttpCode, Post, Query, UseFilters, UseGuards } from '@nestjs/common';
import { ReadsBody } from '../common/http/request-body';
import { SeedTokens } from '../token-pool/seed-tokens';
import { BindSeedTokenDto, ReadSeedTokenQuery, RemoveSeedTokenDto } from './dto/seed-token.dto';
import { SeedTokenAccessGuard } from './seed-token-access.guard';
import { SeedTokenError, SeedTokenExceptionFilter } from './seed-token.errors';

/** The seed that removes every seed rather than itself, as the panel means it (gateway.md §2.4). */
const CLEAR_ALL = 'clear';

/**
 * The seed-management API of external user panels ("Chat-Share", gateway.md §2.4): same paths, bodies and answers,
 * behind the admin secret instead of a pool key, with real statuses for refusals.
 */
@Controller('seedtoken')
@UseGuards(SeedTokenAccessGuard)
@UseFilters(SeedTokenExceptionFilter)
export class SeedTokenController {
  constructor(private readonly seedTokens: SeedTokens) {}

  /** The credential each seed is bound to now (see `SeedTokens.tokenOf`): one seed, or every seed without `seed`. */
  @Get()
  async read(@Query() query: ReadSeedTokenQuery): Promise<{ status: 'success'; data: Record<string, string | null> }> {
    if (query.seed === undefined) return { status: 'success', data: await this.seedTokens.tokens() };
    const token = await this.seedTokens.tokenOf(query.seed);
    if (token === undefined) throw seedNotFound(query.seed);
    return { status: 'success', data: { seed: query.seed, token } };
  }

  @Post()
  @ReadsBody()
  @HttpCode(200)
  async bind(@Body() body: BindSeedTokenDto = {}): Promise<{ status: 'success'; message: string }> {
    const seed = required(body.seed, 'seed');
    const flowToken = body['oai-flow-token'];
    if (flowToken !== undefined && body.token !== undefined && flowToken !== body.token)
      throw new SeedTokenError(400, "Send the token as either 'oai-flow-token' or 'token', not two different ones");
    const token = required(flowToken ?? body.token, 'oai-flow-token');
    const bound = await this.seedTokens.bind(seed, token);
    if (bound === 'invalid_token') throw new SeedTokenError(400, 'The token must be an AccessToken, a RefreshToken or a SessionToken');
    if (bound === 'expired_token') throw new SeedTokenError(400, 'The AccessToken has expired');
    return { status: 'success', message: 'Token updated successfully' };
  }

  /** `{"seed": "clear"}` removes every seed (the panel's meaning), so a seed named `clear` cannot be removed alone. */
  @Delete()
  @ReadsBody()
  async remove(@Body() body: RemoveSeedTokenDto = {}): Promise<{ status: 'success'; message: string }> {
    const seed = required(body.seed, 'seed');
    if (seed === CLEAR_ALL) {
      await this.seedTokens.clear();
      return { status: 'success', message: 'All seeds deleted successfully' };
    }
    if (!(await this.seedTokens.remove(seed))) throw seedNotFound(seed);
    return { status: 'success', message: `Seed '${seed}' deleted successfully` };
  }
}

function required(value: string | undefined | null, field: string): string {
  if (typeof value !== 'string' || !value.trim()) throw new SeedTokenError(400, `Missing required field: ${field}`);
  return value;
}

function seedNotFound(seed: string): SeedTokenError {
  return new SeedTokenError(404, `Seed '${seed}' not found`);
}
