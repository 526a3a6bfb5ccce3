import { IsOptional, IsString } from 'class-validator';

/** The sign-in form (urlencoded). `_csrf` is the double-submit token of `BrowserCookies.issueFormToken`. */
export class SignInFormDto {
  @IsOptional() @IsString() token?: string;
  /** Where to go once signed in; only a local path is followed (`safeNextPath`). */
  @IsOptional() @IsString() next?: string;
  @IsOptional() @IsString() _csrf?: string;
}

/** The sign-out form: the session's CSRF token. */
export class SignOutFormDto {
  @IsOptional() @IsString() _csrf?: string;
}
