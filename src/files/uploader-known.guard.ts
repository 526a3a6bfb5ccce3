import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { AccessTokenChecker } from '../auth/access-token.checker';
import type { RequestWithCredential } from '../auth/api-credential';
import { CredentialService } from '../auth/credential.service';
import { ApiError } from '../common/errors/api-error';

/**
 * An upload stays on this server's disk, so its key must be one the upstream knows before its body is read: a key is
 * accepted by its shape alone, and a forged AccessToken would otherwise store files (as a forged key makes a chat fetch
 * no file URL). An AccessToken is asked about at chatgpt.com (`AccessTokenChecker`); a RefreshToken or SessionToken is
 * exchanged, which the auth server refuses for a forged one. The pool key and the admin's seeds are this server's own.
 * When the upstream cannot tell (unreachable, a challenge), the upload goes on: the key was well formed, and the disk
 * stays bounded by `FILES_MAX_TOTAL_SIZE`.
 */
@Injectable()
export class UploaderKnownGuard implements CanActivate {
  constructor(
    private readonly credentials: CredentialService,
    private readonly accessTokens: AccessTokenChecker,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const credential = context.switchToHttp().getRequest<RequestWithCredential>().apiCredential;
    if (!credential) throw new Error('ApiCredentialGuard did not run for this route');
    switch (credential.kind) {
      case 'access_token': {
        // A workspace the token is not a member of still means a real token: its holder's uploads are theirs.
        if ((await this.accessTokens.check(credential.token, credential.chatgptAccountId)) === 'refused')
          throw ApiError.of('upstream_unauthorized', {});
        return true;
      }
      case 'refresh_token':
      case 'session_token':
        // Refused by the auth server (or chatgpt.com), the exchange throws the 401 a chat with this key gets.
        await this.credentials.acquire(credential, new Set());
        return true;
      default:
        return true;
    }
  }
}
