import { IsOptional, IsString, MaxLength } from 'class-validator';

const MAX_SEED_LENGTH = 256;
/** Far above any real credential (a SessionToken is a few kilobytes), well below the body limit. */
const MAX_TOKEN_LENGTH = 16_384;

export class ReadSeedTokenQuery {
  @IsOptional() @IsString() @MaxLength(MAX_SEED_LENGTH) seed?: string;
}

/**
 * The panel's binding. The credential comes as `oai-flow-token` (FlowGPT's name) or `token` (chat2api's). Missing
 * fields are refused by the controller, with the panel's wording.
 */
export class BindSeedTokenDto {
  @IsOptional() @IsString() @MaxLength(MAX_SEED_LENGTH) seed?: string;
  @IsOptional() @IsString() @MaxLength(MAX_TOKEN_LENGTH) token?: string;
  @IsOptional() @IsString() @MaxLength(MAX_TOKEN_LENGTH) 'oai-flow-token'?: string;
}

export class RemoveSeedTokenDto {
  @IsOptional() @IsString() @MaxLength(MAX_SEED_LENGTH) seed?: string;
}
