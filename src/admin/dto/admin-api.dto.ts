import { ArrayMaxSize, IsArray, IsBoolean, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';

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
