import {
  applyDecorators,
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  HttpException,
  Injectable,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiError } from '../common/errors/api-error';
import { RequestBodyReader } from '../common/http/request-body';
import { AdminAuthService } from './admin-auth.service';
import { AdminSecret } from './admin-secret.service';
import { AdminSession, AdminSessionStore } from './admin-session.store';
import { CsrfService } from './csrf.service';

/**
 * - `sign-in`: the sign-in pages; only needs the admin to be enabled (and same-origin posts);
 * - `page`: a dashboard page or form; needs the session cookie, forms also `_csrf`; otherwise → sign-in page;
 * - `api`: the JSON API; `Authorization: Bearer <secret>`, or the session cookie plus `x-csrf-token` on writes.
 */
export type AdminAccessKind = 'sign-in' | 'page' | 'api';

const ADMIN_ACCESS = 'flowgpt:admin-access';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AdminRequest extends Request {
  adminSession?: AdminSession;
}

/** A page needs a signed-in admin; `AdminPageFilter` turns this into a redirect to the sign-in form. */
export class AdminSignInRequired extends HttpException {
  constructor() {
    super('Sign in to the admin first.', 401);
  }
}

@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly secret: AdminSecret,
    private readonly auth: AdminAuthService,
    private readonly sessions: AdminSessionStore,
    private readonly csrf: CsrfService,
    private readonly body: RequestBodyReader,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const kind = this.reflector.getAllAndOverride<AdminAccessKind>(ADMIN_ACCESS, [context.getHandler(), context.getClass()]);
    const request = context.switchToHttp().getRequest<AdminRequest>();
    if (!this.secret.enabled) throw ApiError.unknownUrl(request);
    const writes = !SAFE_METHODS.has(request.method);

    if (kind === 'api') {
      const bearer = bearerOf(request);
      if (bearer !== undefined) return this.checkBearer(request, bearer);
    }
    if (kind === 'sign-in') {
      if (writes) this.csrf.assertSameOrigin(request);
      return true;
    }

    const session = await this.sessions.fromRequest(request);
    if (!session) {
      if (kind === 'page') throw new AdminSignInRequired();
      throw ApiError.of('admin_key_missing', {});
    }
    if (writes) {
      this.csrf.assertSameOrigin(request);
      // A form's token is in its body: read only now that the session and the origin are known good.
      if (kind === 'page') await this.body.read(context);
      this.csrf.assertToken(
        session,
        kind === 'page' ? (request.body as Record<string, unknown> | undefined)?._csrf : request.get('x-csrf-token'),
      );
    }
    request.adminSession = session;
    return true;
  }

  private async checkBearer(request: Request, bearer: string): Promise<true> {
    const check = await this.auth.checkSecret(clientAddress(request), bearer);
    if (check.ok) return true;
    if (check.reason === 'throttled') throw ApiError.of('admin_auth_throttled', {}, { retryAfter: check.retryAfterSec });
    throw ApiError.of('invalid_admin_key', {});
  }
}

/** Who may call a route: see `AdminAccessKind`. */
export function AdminAccess(kind: AdminAccessKind): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(ADMIN_ACCESS, kind), UseGuards(AdminAuthGuard));
}

/** The signed-in admin's session (routes with `page` access). */
export const CurrentAdminSession = createParamDecorator((_data: unknown, context: ExecutionContext): AdminSession => {
  const session = context.switchToHttp().getRequest<AdminRequest>().adminSession;
  if (!session) throw new Error('AdminAuthGuard did not resolve a session for this route');
  return session;
});

/** The client's address; behind a proxy listed in TRUSTED_PROXIES, the one it forwarded. */
export function clientAddress(request: Request): string {
  return request.ip ?? request.socket.remoteAddress ?? 'unknown';
}

function bearerOf(request: Request): string | undefined {
  const header = request.get('authorization');
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1] : '';
}
