import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { FileLinkService } from './file-link.service';

const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'last-modified', 'etag'];

/**
 * `GET /files/{id}`: the durable links in answers. The link is the capability (like the upstream's signed URL
 * it replaces), so no API key is asked for; what it may open is fixed when the answer made it.
 */
@Controller('files')
export class FilesController {
  constructor(private readonly links: FileLinkService) {}

  @Get(':id')
  async open(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    const controller = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) controller.abort();
    });
    const file = await this.links.open(id, controller.signal, { headOnly: request.method === 'HEAD' });
    response.status(200);
    for (const name of PASSED_HEADERS) {
      const value = file.headers[name];
      if (value !== undefined) response.setHeader(name, value);
    }
    response.setHeader('cache-control', 'private, max-age=3600');
    response.setHeader('x-content-type-options', 'nosniff');
    // Whatever the file is, it never runs as a page of our origin.
    response.setHeader('content-security-policy', "default-src 'none'; sandbox");
    response.setHeader('access-control-allow-origin', '*');
    if (request.method === 'HEAD') {
      file.body.destroy();
      response.end();
      return;
    }
    await pipeline(file.body, response).catch(() => response.destroy());
  }
}
