import { All, Controller, Get, HttpCode, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { StreamedBody } from '../common/http/request-body';
import { GatewayEnabledGuard } from '../common/http/gateway-enabled.guard';
import { StatsigService } from './proxy/statsig.service';

const SWALLOWED = { success: true };

/**
 * Telemetry the web app sends, answered here so nothing about users reaches a third party (gateway.md §2.5, §5.9):
 * Segment (`/ces`, except its settings, which point it back at us), Statsig event logging, Cloudflare's challenge
 * scripts and source maps. Statsig's `initialize` (feature flags) is fetched for real, with the address masked.
 */
@Controller()
@UseGuards(GatewayEnabledGuard)
@StreamedBody()
export class TelemetryController {
  constructor(private readonly statsig: StatsigService) {}

  @Get('ces/v1/projects/oai/settings')
  segmentSettings(@Req() request: Request): unknown {
    return { integrations: { 'Segment.io': { apiHost: `${request.host}/ces/v1`, apiKey: 'oai' } } };
  }

  @Post('ces/*path')
  @HttpCode(202)
  segmentEvents(@Req() request: Request): unknown {
    request.resume();
    return SWALLOWED;
  }

  @Post('ab/v1/rgstr')
  @HttpCode(202)
  statsigEvents(@Req() request: Request): unknown {
    request.resume();
    return SWALLOWED;
  }

  @Post('ab/v1/initialize')
  statsigInitialize(@Req() request: Request, @Res() response: Response): Promise<void> {
    return this.statsig.initialize(request, response);
  }

  @All(['cdn-cgi/*path', 'ab/*path'])
  blocked(@Res() response: Response): void {
    blobNotFound(response);
  }
}

/** What a missing blob looks like on the CDN, so the app treats it as absent rather than failing. */
export function blobNotFound(response: Response): void {
  response
    .status(404)
    .type('application/xml')
    .send(
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>`,
    );
}
