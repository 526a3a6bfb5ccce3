import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Response } from 'express';
import request from 'supertest';
import { ApiError } from '../common/errors/api-error';
import { createControllerApp } from '../common/testing/controller-app';
import { CredentialService } from '../auth/credential.service';
import { FileLinkService } from '../files/file-link.service';
import { LinkTokenSeal } from '../files/link-token-seal';
import { SeedRegistry } from '../token-pool/seed-registry';
import { UpstreamClient } from '../upstream/upstream.client';
import { ChatController } from './chat.controller';
import { ChatService } from './chat.service';
import { ChatCompletionRequestDto } from './dto/chat-completion.dto';
import { ModelsService } from './models.service';

const POOL_KEY = 'pool-key-for-controller-spec';
const SEED = 'seed-created-by-the-admin-for-spec';
const AUTH_KEY = 'auth-key-for-controller-spec';
const HELLO = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] };
const COMPLETION = { id: 'chatcmpl-1', object: 'chat.completion', choices: [] };

describe('ChatController (HTTP edge)', () => {
  const chat = { complete: jest.fn(), stream: jest.fn() };
  const models = { list: jest.fn() };
  const seeds = { adminCreated: jest.fn() };

  async function appWith(env: Record<string, string> = {}): Promise<NestExpressApplication> {
    return createControllerApp(
      {
        controllers: [ChatController],
        providers: [
          { provide: ChatService, useValue: chat },
          { provide: ModelsService, useValue: models },
          { provide: SeedRegistry, useValue: seeds },
          // The real service: the controller asks it where file links in answers should point.
          FileLinkService,
          { provide: UpstreamClient, useValue: {} },
          { provide: CredentialService, useValue: {} },
          { provide: LinkTokenSeal, useValue: {} },
        ],
      },
      { AUTHORIZATION: POOL_KEY, ...env },
    );
  }

  let app: NestExpressApplication;
  beforeAll(async () => {
    app = await appWith();
  });
  afterAll(() => app.close());
  beforeEach(() => {
    jest.resetAllMocks();
    chat.complete.mockResolvedValue(COMPLETION);
    models.list.mockResolvedValue({ object: 'list', data: [] });
    seeds.adminCreated.mockImplementation((seed: string) => Promise.resolve(seed === SEED));
  });

  const post = (body: unknown, target = app) =>
    request(target.getHttpServer())
      .post('/v1/chat/completions')
      .set('Authorization', `Bearer ${POOL_KEY}`)
      .send(body as object);

  describe('authentication', () => {
    it('answers 401 in the OpenAI shape without an API key, before the service runs', async () => {
      const response = await request(app.getHttpServer()).post('/v1/chat/completions').send(HELLO).expect(401);
      expect(response.body).toEqual({
        error: {
          message: 'Missing API key: send `Authorization: Bearer <token>`.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
      expect(chat.complete).not.toHaveBeenCalled();
    });

    it('answers 401 for a key of no known shape that is not a seed the admin created, before the service runs', async () => {
      const response = await request(app.getHttpServer())
        .post('/v1/chat/completions')
        .set('Authorization', 'Bearer some-opaque-token')
        .send(HELLO)
        .expect(401);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
      expect(response.body.error.message).toContain('SeedToken created by the admin');
      expect(response.text).not.toContain('some-opaque-token');
      expect(seeds.adminCreated).toHaveBeenCalledWith('some-opaque-token');
      expect(chat.complete).not.toHaveBeenCalled();
    });

    it('treats an empty bearer as a missing key', async () => {
      const response = await request(app.getHttpServer()).get('/v1/models').set('Authorization', 'Bearer   ').expect(401);
      expect(response.body.error.code).toBe('invalid_api_key');
      expect(models.list).not.toHaveBeenCalled();
    });

    describe('with AUTH_KEY', () => {
      let guarded: NestExpressApplication;
      beforeAll(async () => {
        guarded = await appWith({ AUTH_KEY });
      });
      afterAll(() => guarded.close());

      it('answers 401 for a missing or wrong auth key even with a valid API key', async () => {
        for (const header of [{}, { auth_key: 'wrong' }]) {
          const response = await post(HELLO, guarded).set(header).expect(401);
          expect(response.body).toEqual({
            error: {
              message: 'Missing or wrong auth key: send it in the `auth_key` (or `authkey`) header.',
              type: 'invalid_request_error',
              param: null,
              code: 'invalid_api_key',
            },
          });
        }
        expect(chat.complete).not.toHaveBeenCalled();
      });

      it('accepts the auth key in `authkey` too', async () => {
        await post(HELLO, guarded).set('authkey', AUTH_KEY).expect(200);
        expect(chat.complete).toHaveBeenCalledTimes(1);
      });
    });

    it('answers 400 naming the header for a malformed ChatGPT-Account-ID', async () => {
      const response = await post(HELLO).set('ChatGPT-Account-ID', 'not a workspace id!').expect(400);
      expect(response.body).toEqual({
        error: {
          message: "Invalid value for header 'ChatGPT-Account-ID': must be a workspace id.",
          type: 'invalid_request_error',
          param: 'ChatGPT-Account-ID',
          code: 'invalid_value',
        },
      });
    });
  });

  describe('request validation', () => {
    it.each([
      ['no messages', { model: 'gpt-4o' }, 'messages', 'missing_required_parameter', "Missing required parameter: 'messages'."],
      ['messages not an array', { messages: 'Hello' }, 'messages', 'invalid_value', "Invalid value for 'messages': must be an array."],
      ['empty messages', { messages: [] }, 'messages', 'invalid_value', "Invalid value for 'messages': should not be empty."],
      [
        'an unknown role',
        { messages: [{ role: 'robot', content: 'Hi' }] },
        'messages[0].role',
        'invalid_value',
        "Invalid value for 'messages[0].role': must be one of system, developer, user, assistant, tool, function.",
      ],
      [
        'a message without content',
        { messages: [{ role: 'user' }] },
        'messages[0].content',
        'missing_required_parameter',
        "Missing required parameter: 'messages[0].content'.",
      ],
      [
        'a string for a boolean',
        { ...HELLO, stream: 'yes' },
        'stream',
        'invalid_value',
        "Invalid value for 'stream': must be a boolean value.",
      ],
      [
        'a string for an integer',
        { ...HELLO, max_tokens: '5' },
        'max_tokens',
        'invalid_value',
        "Invalid value for 'max_tokens': must be an integer number.",
      ],
      [
        'n > 1',
        { ...HELLO, n: 2 },
        'n',
        'invalid_value',
        "Invalid value for 'n': must be 1: one answer per upstream conversation (n > 1 is not supported).",
      ],
      ['a number for the model', { ...HELLO, model: 4 }, 'model', 'invalid_value', "Invalid value for 'model': must be a string."],
    ])('answers 400 with param for %s', async (_case, body, param, code, message) => {
      const response = await post(body).expect(400);
      expect(response.body).toEqual({ error: { message, type: 'invalid_request_error', param, code } });
      expect(chat.complete).not.toHaveBeenCalled();
      expect(chat.stream).not.toHaveBeenCalled();
    });

    it('answers 400 invalid_json for a body that is not JSON', async () => {
      const response = await request(app.getHttpServer())
        .post('/v1/chat/completions')
        .set('Authorization', `Bearer ${POOL_KEY}`)
        .set('Content-Type', 'application/json')
        .send('{"messages": [')
        .expect(400);
      expect(response.body).toEqual({
        error: {
          message: 'We could not parse the JSON body of your request: it is not valid JSON.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_json',
        },
      });
    });

    it('answers 415 for a body that is not sent as JSON', async () => {
      const response = await request(app.getHttpServer())
        .post('/v1/chat/completions')
        .set('Authorization', `Bearer ${POOL_KEY}`)
        .type('form')
        .send('messages=hello')
        .expect(415);
      expect(response.body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'unsupported_media_type' });
    });
  });

  describe('a valid request', () => {
    it('passes the validated DTO and the resolved credential to ChatService.complete and answers its completion', async () => {
      const response = await post({ ...HELLO, max_tokens: 20, temperature: 0.2, unknown_field: true }).expect(200);
      expect(response.body).toEqual(COMPLETION);
      expect(chat.complete).toHaveBeenCalledTimes(1);
      const [dto, credential, signal] = chat.complete.mock.calls[0] as [ChatCompletionRequestDto, unknown, AbortSignal];
      expect(dto).toBeInstanceOf(ChatCompletionRequestDto);
      expect(dto).toMatchObject({ model: 'gpt-4o', max_tokens: 20, temperature: 0.2, messages: [{ role: 'user', content: 'Hello' }] });
      expect(credential).toEqual({ kind: 'pool' });
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(signal.aborted).toBe(false);
      expect(chat.stream).not.toHaveBeenCalled();
    });

    it('passes a SeedToken the admin created on as a seed credential', async () => {
      await request(app.getHttpServer()).post('/v1/chat/completions').set('Authorization', `Bearer ${SEED}`).send(HELLO).expect(200);
      expect(seeds.adminCreated).toHaveBeenCalledWith(SEED);
      expect(chat.complete.mock.calls[0][1]).toEqual({ kind: 'seed', seed: SEED });
    });

    it('tells the service where file links should point: the host the client called', async () => {
      const response = await post(HELLO).set('Host', 'proxy.example:8443').expect(200);
      expect(response.body).toEqual(COMPLETION);
      expect(chat.complete.mock.calls[0][3]).toBe('http://proxy.example:8443');
    });

    it('hands `stream: true` requests the response to write to', async () => {
      chat.stream.mockImplementation((_dto: ChatCompletionRequestDto, _credential: unknown, response: Response) => {
        response.status(200).type('text/event-stream').end('data: [DONE]\n\n');
        return Promise.resolve();
      });
      const response = await post({ ...HELLO, stream: true }).expect(200);
      expect(response.text).toBe('data: [DONE]\n\n');
      expect(chat.stream.mock.calls[0][0]).toMatchObject({ stream: true, messages: [{ role: 'user', content: 'Hello' }] });
      expect(chat.stream.mock.calls[0][4]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(chat.complete).not.toHaveBeenCalled();
    });

    it('lists models for the resolved credential', async () => {
      const response = await request(app.getHttpServer()).get('/v1/models').set('Authorization', `Bearer ${POOL_KEY}`).expect(200);
      expect(response.body).toEqual({ object: 'list', data: [] });
      expect(models.list).toHaveBeenCalledWith({ kind: 'pool' });
    });
  });

  describe('errors from the service', () => {
    it('answers 404 model_not_found when the service refuses the model', async () => {
      chat.complete.mockRejectedValue(ApiError.modelNotFound('gpt-nope'));
      const response = await post({ ...HELLO, model: 'gpt-nope' }).expect(404);
      expect(response.body).toEqual({
        error: {
          message: 'The model `gpt-nope` does not exist or you do not have access to it.',
          type: 'invalid_request_error',
          param: 'model',
          code: 'model_not_found',
        },
      });
    });

    it('answers 500 in the OpenAI shape without the internal message for an unexpected failure', async () => {
      chat.complete.mockRejectedValue(new Error('secret internal detail'));
      const response = await post(HELLO).expect(500);
      expect(response.body.error).toMatchObject({ type: 'server_error', param: null, code: 'internal_error' });
      expect(response.text).not.toContain('secret internal detail');
    });

    it('answers an unknown /v1 route with 404 in the OpenAI shape', async () => {
      const response = await request(app.getHttpServer()).get('/v1/nothing-here').set('Authorization', `Bearer ${POOL_KEY}`).expect(404);
      expect(response.body).toEqual({
        error: { message: 'Unknown request URL: GET /v1/nothing-here.', type: 'invalid_request_error', param: null, code: 'unknown_url' },
      });
    });
  });

  describe('with API_PREFIX', () => {
    let prefixed: NestExpressApplication;
    beforeAll(async () => {
      prefixed = await appWith({ API_PREFIX: 'prefix-for-spec' });
    });
    afterAll(() => prefixed.close());

    it('serves the API under the prefix only', async () => {
      await request(prefixed.getHttpServer()).get('/prefix-for-spec/v1/models').set('Authorization', `Bearer ${POOL_KEY}`).expect(200);
      const bare = await request(prefixed.getHttpServer()).get('/v1/models').set('Authorization', `Bearer ${POOL_KEY}`).expect(404);
      expect(bare.body.error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
      expect(models.list).toHaveBeenCalledTimes(1);
    });
  });
});
