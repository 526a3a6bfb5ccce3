/** The part of multer 2 (multipart/form-data; it ships no types) that the app uses. */
declare module 'multer' {
  import type { Readable, Writable } from 'node:stream';
  import type { NextFunction, Request, Response } from 'express';

  namespace multer {
    /** A file read into memory (`memoryStorage`). */
    interface File {
      fieldname: string;
      originalname: string;
      mimetype: string;
      size: number;
      buffer: Buffer;
    }
    interface Field {
      name: string;
      maxCount?: number;
    }
    interface Limits {
      fieldNameSize?: number;
      fieldSize?: number;
      fields?: number;
      fileSize?: number;
      files?: number;
      parts?: number;
      headerPairs?: number;
    }
    interface Options {
      storage?: unknown;
      limits?: Limits;
      /** The charset of part header parameters (a file's name) that name none (default: latin1). */
      defParamCharset?: string;
      /** Feeds the request body to busboy (default: `request.pipe(busboy)`). */
      streamHandler?: (request: Readable, busboy: Writable) => void;
    }
    type Middleware = (request: Request, response: Response, next: NextFunction) => void;
    interface Instance {
      fields(fields: readonly Field[]): Middleware;
    }
    class MulterError extends Error {
      readonly code: string;
      readonly field?: string;
    }
    function memoryStorage(): unknown;
  }
  function multer(options?: multer.Options): multer.Instance;
  export = multer;
}
