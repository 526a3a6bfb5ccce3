import { All, Controller, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { LargeBody, StreamedBody } from '../common/http/request-body';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { BackendProxyService } from './proxy/backend-proxy.service';
import { ReverseProxyService } from './proxy/reverse-proxy.service';
import { blobNotFound } from './telemetry.controller';
import type { UpstreamHostKind } from './upstream-hosts';

/**
 * The reverse proxy's routes, by exact path prefix (gateway.md §5.3 "Ours"). Bodies are not parsed: they stream
 * upstream as they arrive, within the route's limit.
 */
@Controller()
@UseGuards(GatewayEnabledGuard)
@StreamedBody()
export class ProxyController {
  constructor(
    private readonly config: AppConfig,
    private readonly backend: BackendProxyService,
    private readonly proxy: ReverseProxyService,
  ) {}

  @All(['backend-api', 'backend-api/*path'])
  @LargeBody()
  backendApi(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.backend.backendApi(request, response, this.config.maxBodyBytes);
  }

  @All('backend-anon/*path')
  backendAnon(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.backend.backendAnon(request, response, this.config.maxSmallBodyBytes);
  }

  @All(['public-api/*path', 'sentinel/*path', 'cdn/*path'])
  backendHost(@Req() request: Request, @Res() response: Response): Promise<void> {
    if (isSourceMap(request)) return Promise.resolve(blobNotFound(response));
    return this.backend.backendOptional(request, response, this.config.maxSmallBodyBytes);
  }

  /** The CDN's paths: today's hashed `/assets/`, and the `/_next/` chunks of older builds. */
  @All(['assets/*path', '_next/*path'])
  assets(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.toHost('cdn', request, response, request.url);
  }

  /**
   * The files host (`files.oaiusercontent.com`, rewritten to our origin): its paths start with `/file-` (gateway.md §5.3),
   * unlike the API's durable `/files/{id}` links, so a FlowGPT named in another instance's `FILE_HOST` serves them too.
   * Uploads go to signed blob URLs there: the one place a large body is expected.
   */
  @All(['file-:fileId', 'file-:fileId/*path'])
  @LargeBody()
  files(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.toHost('files', request, response, request.url, this.config.maxBodyBytes);
  }

  @All('sandbox/*path')
  sandbox(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.toHost('sandbox', request, response, request.url.replace(/^\/sandbox/, ''));
  }

  /** Voice previews on `persistent.oaistatic.com` (`PERSISTENT_BASE_URL`): the exact prefix, path kept. */
  @All('voice/previews/*path')
  voicePreviews(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.toHost('persistent', request, response, request.url);
  }

  @All('avatar/*path')
  avatar(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.toHost('gravatar', request, response, withoutDefaultImageUrl(request.url));
  }

  /** Hosts other than the backend: never the account's credentials, nor anything else of the session. */
  private async toHost(
    host: UpstreamHostKind,
    request: Request,
    response: Response,
    path: string,
    bodyLimit = this.config.maxSmallBodyBytes,
  ): Promise<void> {
    if (isSourceMap(request)) return blobNotFound(response);
    await this.proxy.forward(request, response, { host, path, bodyLimit });
  }
}

function isSourceMap(request: Request): boolean {
  return request.path.endsWith('.js.map');
}

/**
 * Gravatar answers a missing picture with a redirect to its `d` (default image) parameter when that is a URL: through
 * our origin, an open redirect to anywhere. Such a default becomes Gravatar's own generated picture.
 */
export function withoutDefaultImageUrl(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return url;
  const query = new URLSearchParams(url.slice(queryAt + 1));
  let changed = false;
  for (const name of ['d', 'default']) {
    const value = query.get(name);
    if (value !== null && !/^[a-z0-9]+$/i.test(value)) {
      query.set(name, 'identicon');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, queryAt)}?${query.toString()}` : url;
}
