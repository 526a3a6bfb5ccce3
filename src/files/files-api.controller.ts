import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res, UploadedFiles, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ApiAuthenticated } from '../auth/api-credential.guard';
import { ApiKeyOwner } from '../auth/api-key-owner.decorator';
import { ApiError } from '../common/errors/api-error';
import { MultipartBody, MultipartFileLimit, ReadsBody } from '../common/http/request-body';
import { UploaderKnownGuard } from './uploader-known.guard';
import { type DeletedFile, type FileList, type FileObject, FilesApiService, type ReceivedUpload } from './files-api.service';

/**
 * OpenAI's Files API, for files a conversation reads by `file_id`: each API key sees only the files uploaded with it
 * (`ApiKeyOwner`).
 */
@Controller('v1/files')
@ApiAuthenticated()
export class FilesApiController {
  constructor(private readonly files: FilesApiService) {}

  /**
   * The multipart body is read after the guards, the file into memory: an upload without a key, or with one the upstream
   * does not know (`UploaderKnownGuard`), is never read.
   */
  @MultipartBody([{ name: 'file', maxCount: 1 }])
  @MultipartFileLimit({ bytes: (config) => config.filesMaxBytes, refusal: (limit) => ApiError.of('file_upload_too_large', { limit }) })
  @Post()
  @ReadsBody()
  @UseGuards(UploaderKnownGuard)
  @HttpCode(200)
  create(
    @Body() fields: Record<string, unknown> | undefined,
    @UploadedFiles() files: Partial<Record<'file', ReceivedUpload['file'][]>> | undefined,
    @ApiKeyOwner() owner: string,
  ): Promise<FileObject> {
    return this.files.create(owner, { file: files?.file?.[0], fields: fields ?? {} });
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
