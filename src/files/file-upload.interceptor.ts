import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  PayloadTooLargeException,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Observable } from 'rxjs';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';

/** The text fields an upload may carry besides `file` (`purpose`, `expires_after[...]`), with room to spare. */
const MAX_FIELDS = 16;

/**
 * Reads the multipart body of `POST /v1/files` (after the route's guards: an unauthenticated upload is never read),
 * the `file` part into memory, at most `FILES_MAX_SIZE`. Nest's multer interceptor does the reading; its refusals become
 * OpenAI's error shape here (a 413 naming the limit, a 400 saying what was malformed).
 */
@Injectable()
export class FileUploadInterceptor implements NestInterceptor {
  private readonly multer: NestInterceptor;

  constructor(private readonly config: AppConfig) {
    const Multer = FileInterceptor('file', {
      limits: { fileSize: config.filesMaxBytes, files: 1, fields: MAX_FIELDS },
      // Names of files in any script: busboy reads header parameters as latin1 unless told otherwise.
      defParamCharset: 'utf8',
    });
    this.multer = new Multer();
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    try {
      return await this.multer.intercept(context, next);
    } catch (error) {
      if (error instanceof PayloadTooLargeException) throw ApiError.of('file_upload_too_large', { limit: this.config.filesMaxBytes });
      if (error instanceof BadRequestException) {
        throw ApiError.invalidRequest(`The upload could not be read: ${error.message}.`, 'invalid_value', 'file');
      }
      throw error;
    }
  }
}
