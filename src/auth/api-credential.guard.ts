import { CanActivate, createParamDecorator, ExecutionContext, Injectable, UseGuards, applyDecorators } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../common/errors/api-error';
import { AuthKeyGuard } from '../common/guards/auth-key.guard';
import { secretInList } from '../common/util/secrets';
import { isHeaderSafe } from '../common/util/header-value';
import { TEAM_ACCOUNT_ID } from '../common/vocabulary/team-account';
import { ApiCredential, classifyApiKey, readApiKey, RequestWithCredential, teamAccountHeader } from './api-credential';
import { SeedRegistry } from '../token-pool/seed-registry';

/** Resolves the request's API key into an ApiCredential; a missing key, or one of no known shape, is 401. */
@Injectable()
export class ApiCredentialGuard implements CanActivate {
  constructor(
    private readonly config: AppConfig,
    private readonly seeds: SeedRegistry,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RequestWithCredential>();
    const key = readApiKey(request);
    if (!key) throw ApiError.of('api_key_missing', {});
    const credential = classifyApiKey(key, {
      isPoolKey: (candidate) => secretInList(candidate, this.config.authorization),
    });
    // A key that is sent on as the upstream's bearer must survive being an HTTP header value.
    if ('token' in credential && !isHeaderSafe(credential.token)) throw ApiError.of('api_key_unsendable', {});
    if (credential.kind === 'seed' && !(await this.seeds.adminCreated(credential.seed))) throw ApiError.of('api_key_unrecognised', {});
    const team = teamAccountHeader(request);
    if (team && !TEAM_ACCOUNT_ID.test(team)) {
      throw ApiError.invalidRequest(
        "Invalid value for header 'ChatGPT-Account-ID': must be a workspace id.",
        'invalid_value',
        'ChatGPT-Account-ID',
      );
    }
    if (team && 'token' in credential && !credential.chatgptAccountId) credential.chatgptAccountId = team;
    request.apiCredential = credential;
    return true;
  }
}

/** An API route: the AUTH_KEY guard, then the credential. */
export function ApiAuthenticated(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(AuthKeyGuard, ApiCredentialGuard));
}

export const Credential = createParamDecorator((_data: unknown, context: ExecutionContext): ApiCredential => {
  const credential = context.switchToHttp().getRequest<RequestWithCredential>().apiCredential;
  if (!credential) throw new Error('ApiCredentialGuard did not run for this route');
  return credential;
});
