import { CanActivate, ExecutionContext, Injectable, Logger, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import express, { type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';
import { AppConfig } from '../../config/app-config';
import { ApiError } from '../errors/api-error';
import { jsonNestingExceeds, MAX_JSON_DEPTH } from './json-depth';
import { routeOf } from './route-of';

/**
 * Request bodies are read per route, after its guards: an unauthenticated or unrouted request never makes
 * us buffer a body. Every route reads at most `MAX_SMALL_BODY_SIZE`; a route marked `@LargeBody()` (one
 * that takes attachments or uploads) reads up to `MAX_BODY_SIZE`. JSON and urlencoded forms are parsed, and on a
 * route marked `@MultipartBody()` multipart/form-data too; other content types are left unread (`request.body`
 * stays undefined).
 *
 * Guards that need the body (a form's CSRF field) call `RequestBodyReader.read` themselves once they have
 * checked everything the headers can tell; on every route that takes a `@Body()`, `ReadsBody()` reads it after
 * the route's other guards. A route that takes none leaves its body unread (Node discards it after the answer).
 */
const LARGE_BODY = 'flowgpt:large-body';

/** This route may take a body up to `MAX_BODY_SIZE` (attachments, token uploads). */
export const LargeBody = (): MethodDecorator & ClassDecorator => SetMetadata(LARGE_BODY, true);

const STREAMED_BODY = 'flowgpt:streamed-body';

/**
 * This route reads its body itself, as a stream (the gateway's reverse proxy forwards it upstream unparsed);
 * the limit of `limitFor` still applies, enforced by the route.
 */
export const StreamedBody = (): MethodDecorator & ClassDecorator => SetMetadata(STREAMED_BODY, true);

const MULTIPART_FILES = 'flowgpt:multipart-files';

/** A file field of a multipart route, and how many files it may carry. */
export interface MultipartFileField {
  name: string;
  maxCount: number;
}

/**
 * This route also takes multipart/form-data (OpenAI's upload routes): text fields become `request.body`, the files
 * of `files` are read into memory as `request.files` (by field name), and a file under any other name is refused.
 * The whole body stays within the route's limit, files and fields together, however it is sent.
 */
export const MultipartBody = (files: readonly MultipartFileField[]): MethodDecorator => SetMetadata(MULTIPART_FILES, files);

/** A file of a multipart body as the reader holds it in memory (`request.files`, by field name). */
export interface FormFile {
  buffer: Buffer;
  mimetype: string;
  originalname: string;
}

const MULTIPART_FILE_LIMIT = 'flowgpt:multipart-file-limit';

/** A multipart route's own bound on each file, when not its body limit (`MultipartFileLimit`). */
export interface MultipartFileLimit {
  /** The largest file the route takes, from its setting. */
  bytes: (config: AppConfig) => number;
  /** The 413 for a file, or a body, past it. */
  refusal: (limit: number) => ApiError;
}

/**
 * Each file of this `@MultipartBody()` route is bounded by a setting of its own, not by the body limit (a Files API
 * upload by `FILES_MAX_SIZE`). The whole body may then take that much per file, plus `MAX_SMALL_BODY_SIZE` for its
 * text fields; a file or body past it is answered with `refusal`.
 */
export const MultipartFileLimit = (limit: MultipartFileLimit): MethodDecorator => SetMetadata(MULTIPART_FILE_LIMIT, limit);

/** Text fields of a multipart body: OpenAI's upload routes take a dozen; a prompt of 32,000 characters fits one. */
const MULTIPART_MAX_FIELDS = 64;
const MULTIPART_MAX_FIELD_BYTES = 256 * 1024;

type Parser = (request: Request, response: Response, next: NextFunction) => void;
interface BodyParsers {
  declaredLengthFits: Parser;
  json: Parser;
  form: Parser;
  /** The largest body they read, and the variable that sets it: a refusal names both. */
  limit: BodyLimit;
}
export interface BodyLimit {
  bytes: number;
  variable: 'MAX_BODY_SIZE' | 'MAX_SMALL_BODY_SIZE';
}

const READ = Symbol('flowgpt:body-read');
type RequestWithBodyRead = Request & { [READ]?: Promise<void> };

/** One way of reading a body: its steps, the limit a 413 names, and how the route words a refusal. */
interface BodyReading {
  steps: Parser[];
  limit: BodyLimit | undefined;
  routeRefusal?: (refusal: ApiError) => ApiError;
}

/** How a route's body is read, worked out from its decorators once per route, not per request. */
interface RouteBodyPlan {
  /** `@StreamedBody()`: the route reads it itself. */
  streamed: boolean;
  plain: BodyReading;
  /** `@MultipartBody()`: how a multipart/form-data body is read. */
  multipart?: BodyReading;
}

@Injectable()
export class RequestBodyReader {
  private readonly logger = new Logger('RequestBody');
  private readonly small: BodyParsers;
  private readonly large: BodyParsers;
  private readonly plans = new WeakMap<object, RouteBodyPlan>();

  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
  ) {
    this.small = parsersWithLimit({ bytes: config.maxSmallBodyBytes, variable: 'MAX_SMALL_BODY_SIZE' });
    this.large = parsersWithLimit({ bytes: config.maxBodyBytes, variable: 'MAX_BODY_SIZE' });
  }

  /** The body limit of the route that `context` runs. */
  limitFor(context: ExecutionContext): 'small' | 'large' {
    return this.reflector.getAllAndOverride<boolean>(LARGE_BODY, [context.getHandler(), context.getClass()]) ? 'large' : 'small';
  }

  /** Reads and parses the body once for the route in `context`; refusals are `ApiError`s (400, 413, 415). */
  read(context: ExecutionContext): Promise<void> {
    const request = context.switchToHttp().getRequest<RequestWithBodyRead>();
    const response = context.switchToHttp().getResponse<Response>();
    const plan = this.planFor(context);
    if (plan.streamed) return Promise.resolve();
    if (plan.multipart && request.is('multipart/form-data')) request[READ] ??= this.parse(request, response, plan.multipart);
    request[READ] ??= this.parse(request, response, plan.plain);
    return request[READ];
  }

  /** Kept by handler: no controller inherits routes from another, so a handler has one class (and one class-level limit). */
  private planFor(context: ExecutionContext): RouteBodyPlan {
    const handler = context.getHandler();
    let plan = this.plans.get(handler);
    if (!plan) {
      plan = this.planOf(context);
      this.plans.set(handler, plan);
    }
    return plan;
  }

  private planOf(context: ExecutionContext): RouteBodyPlan {
    const streamed = Boolean(this.reflector.getAllAndOverride<boolean>(STREAMED_BODY, [context.getHandler(), context.getClass()]));
    const parsers = this.limitFor(context) === 'large' ? this.large : this.small;
    const plain = { limit: parsers.limit, steps: [parsers.json, parsers.form] };
    const files = this.reflector.get<readonly MultipartFileField[] | undefined>(MULTIPART_FILES, context.getHandler());
    if (!files) return { streamed, plain };
    const own = this.reflector.get<MultipartFileLimit | undefined>(MULTIPART_FILE_LIMIT, context.getHandler());
    const multipart = own
      ? this.multipartWithOwnLimit(files, own)
      : { limit: parsers.limit, steps: [parsers.declaredLengthFits, unencodedMultipart, multipartParser(files, parsers.limit.bytes)] };
    return { streamed, plain, multipart };
  }

  /** A multipart body whose files have a limit of their own (`MultipartFileLimit`): any 413 is the route's. */
  private multipartWithOwnLimit(files: readonly MultipartFileField[], own: MultipartFileLimit): BodyReading {
    const fileLimit = own.bytes(this.config);
    const maxFiles = files.reduce((sum, field) => sum + field.maxCount, 0);
    const bodyLimit = fileLimit * maxFiles + this.config.maxSmallBodyBytes;
    return {
      limit: undefined,
      steps: [refuseDeclaredLengthOver(bodyLimit), unencodedMultipart, multipartParser(files, bodyLimit, fileLimit)],
      routeRefusal: (refusal) => (refusal.getStatus() === 413 ? own.refusal(fileLimit) : refusal),
    };
  }

  private async parse(request: Request, response: Response, { steps, limit, routeRefusal }: BodyReading): Promise<void> {
    try {
      for (const step of steps) await run(step, request, response);
      // Every route's body is an object (a DTO); body-parser's strict mode lets arrays through.
      if (Array.isArray(request.body)) throw NOT_AN_OBJECT;
    } catch (error) {
      const found = bodyRefusal(error, limit);
      if (!found) throw error;
      const refusal = routeRefusal ? routeRefusal(found) : found;
      // A refused body may still be arriving: do not keep reading it on this connection.
      if (!request.complete) response.shouldKeepAlive = false;
      this.logger.debug(`${request.method} ${routeOf(request) ?? '(no route)'}: body refused (${refusal.code})`);
      throw refusal;
    }
  }
}

/** Reads the route's body: the last guard of every route that takes a `@Body()` (see `ReadsBody`). */
@Injectable()
export class BodyReadingGuard implements CanActivate {
  constructor(private readonly body: RequestBodyReader) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() === 'http') await this.body.read(context);
    return true;
  }
}

/**
 * This route takes a body (`@Body()`): it is read after every other guard of the route, before the pipes. Goes
 * right under the route's method decorator (`@Post()`): decorators apply from the bottom up, so the guards of the
 * decorators below it come first. `body-reading.spec.ts` checks every route for both.
 *
 * A guard, not a global interceptor: Nest runs any interceptor through rxjs and binds two async resources per
 * request, which cost about 3% of a short chat request's CPU.
 */
export const ReadsBody = (): MethodDecorator => UseGuards(BodyReadingGuard);

function parsersWithLimit({ bytes: limit, variable }: BodyLimit): BodyParsers {
  const declaredLengthFits = refuseDeclaredLengthOver(limit);
  const json = express.json({ limit, type: ['application/json', 'application/*+json'], verify: checkJsonBody });
  const form = express.urlencoded({ extended: false, limit, verify: checkFormBody });
  return {
    declaredLengthFits,
    json: (request, response, next) =>
      declaredLengthFits(request, response, (error?: unknown) => (error ? next(error) : json(request, response, next))),
    form: (request, response, next) =>
      declaredLengthFits(request, response, (error?: unknown) => (error ? next(error) : form(request, response, next))),
    limit: { bytes: limit, variable },
  };
}

/**
 * A body that says up front it is too large is refused before a byte of it is read (body-parser would read
 * and discard all of it first).
 */
function refuseDeclaredLengthOver(limit: number): Parser {
  return (request, _response, next) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit)
      return next(Object.assign(new Error('request entity too large'), { type: 'entity.too.large' }));
    next();
  };
}

/** Runs before JSON.parse on the raw bytes: UTF-8 only (RFC 8259 §8.1), and no deeper than MAX_JSON_DEPTH. */
function checkJsonBody(_request: unknown, _response: unknown, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8')
    throw Object.assign(new Error(`unsupported charset ${encoding}`), { type: 'charset.unsupported' });
  if (jsonNestingExceeds(body)) throw Object.assign(new Error('JSON nested too deeply'), { type: 'entity.too.deep' });
}

/**
 * Runs before a form body is parsed: every name and value must be valid percent-encoded UTF-8. The parser would keep
 * a field with a bad escape undecoded (line breaks and all), and a token upload would then lose every line of it.
 */
function checkFormBody(_request: unknown, _response: unknown, body: Buffer): void {
  for (const field of body.toString('latin1').split('&')) {
    try {
      decodeURIComponent(field.replace(/\+/g, ' '));
    } catch {
      throw Object.assign(new Error('bad percent-escape in a form body'), { type: 'form.parse.failed' });
    }
  }
}

/**
 * multer, with every limit explicit: each file at most `fileLimit` (the body limit unless the route has its own), no
 * more files than the fields allow, a bounded count and size of text fields, and the bytes of the whole body counted as
 * they arrive, so that a body sent without a Content-Length is cut off at the limit too. Files are kept in memory, never
 * on disk. File names are read as UTF-8 (busboy's default is latin1, which garbles a name in any other script).
 */
function multipartParser(files: readonly MultipartFileField[], limit: number, fileLimit = limit): Parser {
  const maxFiles = files.reduce((sum, field) => sum + field.maxCount, 0);
  const upload = multer({
    storage: multer.memoryStorage(),
    defParamCharset: 'utf8',
    limits: {
      fileSize: fileLimit,
      files: maxFiles,
      fields: MULTIPART_MAX_FIELDS,
      fieldSize: Math.min(MULTIPART_MAX_FIELD_BYTES, limit),
      parts: maxFiles + MULTIPART_MAX_FIELDS,
    },
    streamHandler: (request, busboy) => {
      let received = 0;
      const count = (chunk: Buffer) => {
        received += chunk.length;
        if (received <= limit) return;
        request.off('data', count);
        // As multer does when the request fails: the file being read fails with it, and multer answers the error.
        request.unpipe(busboy);
        busboy.destroy(Object.assign(new Error('multipart body too large'), { type: 'entity.too.large' }));
      };
      request.on('data', count);
      request.pipe(busboy);
    },
  }).fields(files);
  return (request, response, next) =>
    upload(request, response, (error?: unknown) => {
      if (error) return next(isBodyTooLarge(error) || error instanceof multer.MulterError ? error : multipartUnreadable(error));
      // multer's body has no prototype; the validation pipe and the DTOs expect a plain object.
      request.body = { ...(request.body as object) };
      next();
    });
}

/**
 * A multipart body is read as it arrives, undecoded: one with a Content-Encoding is refused rather than parsed as if
 * it had none (a gzipped form would read as malformed, and a mislabelled one would pass).
 */
const unencodedMultipart: Parser = (request, _response, next) => {
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return next();
  next(Object.assign(new Error(`multipart body with content-encoding ${encoding}`), { type: 'multipart.encoded' }));
};

function isBodyTooLarge(error: unknown): boolean {
  return (error as { type?: unknown }).type === 'entity.too.large';
}

function multipartUnreadable(error: unknown): Error {
  const reason = error instanceof Error ? error.message : 'malformed body';
  return Object.assign(new Error(reason), { type: 'multipart.unreadable' });
}

/** What a multer limit means for the client: 413 when the body or a file is too large, else 400 naming the field. */
function multipartRefusal(error: multer.MulterError, limit: BodyLimit | undefined): ApiError {
  const param = error.field ?? null;
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return ApiError.of('request_too_large', { limit: limitText(limit) }, { param });
    case 'LIMIT_UNEXPECTED_FILE':
    case 'LIMIT_FILE_COUNT':
      return param
        ? ApiError.of('invalid_value', { param, problem: 'more files than this field takes, or a file where none is expected' }, { param })
        : ApiError.of('invalid_multipart', { reason: 'more files than the request takes' });
    case 'LIMIT_FIELD_VALUE':
      return param
        ? ApiError.of('invalid_value', { param, problem: `longer than ${MULTIPART_MAX_FIELD_BYTES} bytes` }, { param })
        : ApiError.of('invalid_multipart', { reason: 'a field is too long' });
    default:
      return ApiError.of('invalid_multipart', { reason: error.message.toLowerCase() });
  }
}

/** How a 413 names the limit: `: more than 33554432 bytes (MAX_BODY_SIZE)`, the variable an operator raises. */
function limitText(limit: BodyLimit | undefined): string | undefined {
  return limit ? `: more than ${limit.bytes} bytes (${limit.variable})` : undefined;
}

function run(parser: Parser, request: Request, response: Response): Promise<void> {
  // body-parser and the length check report failures as Error objects (`bodyRefusal` reads their `type`);
  // anything else is wrapped, to reach the caller as an unexpected failure all the same.
  return new Promise((resolve, reject) =>
    parser(request, response, (error?: unknown) =>
      error ? reject(error instanceof Error ? error : new Error('body parser failed', { cause: error })) : resolve(),
    ),
  );
}

const NOT_AN_OBJECT = new Error('the JSON body is not an object');

/**
 * What a body-parser failure means for the client. Anything body-parser reports with a 4xx status is the
 * client's doing (a body that is not the gzip it says it is, a cut upload): never a 500, never a stack trace.
 */
export function bodyRefusal(error: unknown, limit?: BodyLimit): ApiError | undefined {
  if (error === NOT_AN_OBJECT)
    return ApiError.invalidRequest('The JSON body of your request must be an object, not an array.', 'invalid_json');
  if (error instanceof multer.MulterError) return multipartRefusal(error, limit);
  if (!(error instanceof Error)) return undefined;
  const { type, status } = error as Error & { type?: string; status?: number };
  switch (type) {
    case 'multipart.encoded':
      return ApiError.of('unsupported_multipart_encoding', {});
    case 'multipart.unreadable':
      return ApiError.of('invalid_multipart', { reason: error.message.replace(/\.$/, '').toLowerCase() });
    case 'entity.parse.failed':
      return ApiError.invalidRequest('We could not parse the JSON body of your request: it is not valid JSON.', 'invalid_json');
    case 'form.parse.failed':
      return ApiError.invalidRequest(
        'The form body of your request has a bad percent-escape: it is not valid URL encoding.',
        'invalid_form_body',
      );
    case 'entity.too.deep':
      return ApiError.invalidRequest(`The JSON body of your request nests deeper than ${MAX_JSON_DEPTH} levels.`, 'json_too_deep');
    case 'entity.too.large':
      return ApiError.of('request_too_large', { limit: limitText(limit) });
    case 'encoding.unsupported':
      return ApiError.of('unsupported_encoding', {});
    case 'charset.unsupported':
      return ApiError.of('unsupported_charset', {});
    case 'request.aborted':
    case 'request.size.invalid':
      return ApiError.invalidRequest('The request body ended before its declared length.', 'incomplete_body');
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return ApiError.invalidRequest(
      'The request body could not be read: it does not match its Content-Encoding or Content-Length.',
      'invalid_body',
    );
  }
  return undefined;
}

/** How long a client may go on sending a body nobody reads after its answer (401, 404, 413) before it is cut off. */
const LINGER_MS = 2_000;

/**
 * A request that announces a body above the small limit and is answered before the body was read (401, 404,
 * 413): Node discards the rest of the body after the answer, which lets the client read the answer (closing
 * the socket with unread data would reset the connection, and the client would lose it); a client still sending
 * `LINGER_MS` after the answer is cut off, so the body is never pulled off the wire for long.
 */
export function closeAfterLargeBodies(smallLimit: number) {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (Number(request.headers['content-length']) > smallLimit) {
      response.once('finish', () => {
        if (request.complete) return;
        const timer = setTimeout(() => request.socket.destroy(), LINGER_MS);
        timer.unref();
        request.once('end', () => clearTimeout(timer));
        request.once('close', () => clearTimeout(timer));
      });
    }
    next();
  };
}
