import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import { GatewayIdentity } from '../gateway-identity';
import { ReverseProxyService } from './reverse-proxy.service';

/** Statsig's feature-flag fetch: proxied without credentials, every `ip` and `country` in the answer masked. */
@Injectable()
export class StatsigService {
  constructor(
    private readonly config: AppConfig,
    private readonly proxy: ReverseProxyService,
    private readonly identity: GatewayIdentity,
  ) {}

  async initialize(request: Request, response: Response): Promise<void> {
    const caller = await this.identity.optionalCaller(request);
    await this.proxy.forward(request, response, {
      host: 'statsig',
      path: request.url.replace(/^\/ab/, ''),
      caller,
      bodyLimit: this.config.maxSmallBodyBytes,
      transformJson: maskAddress,
    });
  }
}

export function maskAddress(document: unknown): unknown {
  if (Array.isArray(document)) return document.map(maskAddress);
  if (!document || typeof document !== 'object') return document;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(document)) {
    out[key] = key === 'ip' ? '8.8.8.8' : key === 'country' ? 'US' : maskAddress(value);
  }
  return out;
}
