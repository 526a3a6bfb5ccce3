import pino from 'pino';
import type { LogLevelName } from '../config/app-config';
import { StartProblem } from '../common/startup/start-problem';
import { AppLogger } from './app-logger';
import { logDestination, pinoOptions } from './log-format';

describe('AppLogger (Nest → pino)', () => {
  const capture = (level: LogLevelName = 'log') => {
    const lines: Record<string, unknown>[] = [];
    const root = pino(pinoOptions(level), logDestination('json', { write: (text: string) => lines.push(JSON.parse(text)) }));
    return { logger: new AppLogger(root), lines };
  };

  it('puts the context, Nest`s last parameter, in the `context` field', () => {
    const { logger, lines } = capture();
    logger.log('hello', 'Chat');
    logger.warn('no context');
    logger.log('hello %s', 'world', 'Chat');
    expect(lines.map(({ time: _time, ...rest }) => rest)).toEqual([
      { level: 'info', context: 'Chat', msg: 'hello' },
      { level: 'warn', msg: 'no context' },
      { level: 'info', context: 'Chat', msg: 'hello world' },
    ]);
  });

  it('logs an Error message as `err` and merges an object message into the fields', () => {
    const { logger, lines } = capture();
    logger.warn(new Error('boom'), 'Pool');
    logger.log({ route: '/v1/models', accounts: 3 }, 'Admin');
    expect(lines[0]).toEqual(
      expect.objectContaining({ level: 'warn', context: 'Pool', err: expect.objectContaining({ type: 'Error', message: 'boom' }) }),
    );
    expect(lines[1]).toEqual(expect.objectContaining({ level: 'info', context: 'Admin', route: '/v1/models', accounts: 3 }));
  });

  it('logs what Nest`s exception handlers pass, `error(message, stack, context)`, as one error with that stack', () => {
    const { logger, lines } = capture();
    const stack = 'Error: kaput\n    at Handler.run (handler.js:1:1)';
    logger.error('kaput', stack, 'ExceptionsHandler');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', context: 'ExceptionsHandler', err: expect.objectContaining({ message: 'kaput', stack }) }),
    ]);
  });

  it('maps verbose to trace and fatal to fatal', () => {
    const { logger, lines } = capture('verbose');
    logger.verbose('details', 'Pow');
    logger.fatal('gone', 'Pow');
    expect(lines.map((line) => line.level)).toEqual(['trace', 'fatal']);
  });

  it('keeps Nest`s wiring lines for LOG_LEVEL=debug and leaves start problems to main.ts', () => {
    const quiet = capture('log');
    quiet.logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    quiet.logger.error(new StartProblem('Port 3000 is already in use'));
    quiet.logger.error('Error: listen EADDRINUSE: address already in use :::3000', 'NestApplication');
    expect(quiet.lines).toEqual([]);

    const verbose = capture('debug');
    verbose.logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    expect(verbose.lines).toEqual([expect.objectContaining({ level: 'debug', context: 'RouterExplorer' })]);
  });
});
