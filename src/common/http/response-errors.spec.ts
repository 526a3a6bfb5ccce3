import express from 'express';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { keepResponseErrorsLocal } from './response-errors';

describe('keepResponseErrorsLocal', () => {
  it('keeps a write after the end of an answer from becoming an uncaught error', async () => {
    const app = express();
    app.use(keepResponseErrorsLocal);
    let lateWrite: Promise<Error | null | undefined> = Promise.resolve(undefined);
    app.get('/', (_request, response) => {
      response.end('done');
      lateWrite = new Promise((resolve) => response.write('too late', (error) => resolve(error)));
    });
    const uncaught: Error[] = [];
    const onUncaught = (error: Error) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const server = app.listen(0);
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) =>
        http
          .get(`http://127.0.0.1:${port}/`, (answer) => {
            let text = '';
            answer.on('data', (chunk: Buffer) => (text += chunk.toString()));
            answer.on('end', () => resolve(text));
          })
          .on('error', reject),
      );
      expect(body).toBe('done');
      expect((await lateWrite)?.message).toMatch(/write after end/);
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      server.close();
    }
  });
});
