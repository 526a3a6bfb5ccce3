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

/** next-auth's `signIn(provider)` post (urlencoded): it reads only `url` from the answer. */
export class NextAuthSignInDto {
  /** Where the web app wants to be once signed in; by default the page's full URL. */
  @IsOptional() @IsString() callbackUrl?: string;
  @IsOptional() @IsString() csrfToken?: string;
  @IsOptional() @IsString() json?: string;
}
