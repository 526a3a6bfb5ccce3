import { IsOptional, IsString } from 'class-validator';

/** The dashboard's forms post urlencoded fields; `_csrf` is checked by the guard. */
export class UploadFormDto {
  /** One token a line. */
  @IsOptional() @IsString() tokens?: string;
}

export class SeedFormDto {
  @IsOptional() @IsString() seed?: string;
}

export class SignInFormDto {
  @IsOptional() @IsString() secret?: string;
}

/** A row's action (remove, restore, refresh) names the page of accounts it was on, to come back to it. */
export class AccountActionFormDto {
  @IsOptional() @IsString() page?: string;
}
