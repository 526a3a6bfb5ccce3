import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res, UseInterceptors } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiAuthenticated } from '../auth/api-credential.guard';
import { ApiKeyOwner } from '../auth/api-key-owner.decorator';
import { FileUploadInterceptor } from './file-upload.interceptor';
import { type DeletedFile, type FileList, type FileObject, FilesApiService, type ReceivedUpload } from './files-api.service';

/**
 * OpenAI's Files API, for files a conversation reads by `file_id`: each API key sees only the files uploaded with it
 * (`ApiKeyOwner`).
 */
@Controller('v1/files')
@ApiAuthenticated()
export class FilesApiController {
  constructor(private readonly files: FilesApiService) {}

  @Post()
  @HttpCode(200)
  @UseInterceptors(FileUploadInterceptor)
  create(@Req() request: Request & { file?: ReceivedUpload['file'] }, @ApiKeyOwner() owner: string): Promise<FileObject> {
    return this.files.create(owner, { file: request.file, fields: (request.body ?? {}) as Record<string, unknown> });
  }

  @Get()
  list(@Query() query: Record<string, unknown>, @ApiKeyOwner() owner: string): Promise<FileList> {
    return this.files.list(owner, query);
  }

  @Get(':id')
  retrieve(@Param('id') id: string, @ApiKeyOwner() owner: string): Promise<FileObject> {
    return this.files.retrieve(owner, id);
  }

  @Get(':id/content')
  async content(@Param('id') id: string, @ApiKeyOwner() owner: string, @Res() response: Response): Promise<void> {
    const { file, bytes } = await this.files.content(owner, id);
    response.status(200);
    response.setHeader('content-type', 'application/octet-stream');
    response.setHeader('content-disposition', `attachment; filename*=UTF-8''${headerParameter(file.filename)}`);
    response.setHeader('x-content-type-options', 'nosniff');
    // Whatever the file is, it never runs as a page of our origin.
    response.setHeader('content-security-policy', "default-src 'none'; sandbox");
    response.end(bytes);
  }

  @Delete(':id')
  delete(@Param('id') id: string, @ApiKeyOwner() owner: string): Promise<DeletedFile> {
    return this.files.delete(owner, id);
  }
}

/** RFC 5987's encoding of a header parameter value: `encodeURIComponent` leaves `'()*` as they are, which it may not hold. */
function headerParameter(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}
