import { ArrayMaxSize, IsArray, IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

const MAX_TOKENS_PER_UPLOAD = 10_000;
const MAX_SEED_LENGTH = 256;

export class UploadTokensDto {
  @IsArray()
  @ArrayMaxSize(MAX_TOKENS_PER_UPLOAD)
  @IsString({ each: true })
  tokens: string[];
}

export class RefreshAccountsDto {
  /** One account; all RefreshToken accounts when absent. */
  @IsOptional() @IsString() @IsNotEmpty() id?: string;
  /** Renew even AccessTokens that are not close to expiry. */
  @IsOptional() @IsBoolean() force?: boolean;
}

export class CreateSeedDto {
  /** A random seed is made when absent. */
  @IsOptional() @IsString() @MaxLength(MAX_SEED_LENGTH) seed?: string;
}

/** One seed, or with `all: true` every seed; a body with neither removes nothing (400). */
export class RemoveSeedDto {
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(MAX_SEED_LENGTH) seed?: string;
  @IsOptional() @IsBoolean() all?: boolean;
}

/**
 * The query of `GET /admin/api/tokens`: a page of the accounts, in the list's order. Without it, all of them. Digits
 * only (no `1e3`, `0x10` or `-1`), as a query gives them: the controller turns them into numbers.
 */
export class ListTokensQuery {
  /** How many accounts to skip. */
  @IsOptional() @Matches(/^\d{1,9}$/, { message: '$property must be a whole number, 0 or more' }) offset?: string;
  /** How many accounts to answer at most. */
  @IsOptional() @Matches(/^0*[1-9]\d{0,8}$/, { message: '$property must be a whole number, 1 or more' }) limit?: string;
}
