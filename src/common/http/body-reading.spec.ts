import 'reflect-metadata';
import { GUARDS_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BodyReadingGuard } from './request-body';

type Controller = abstract new (...args: never[]) => unknown;

const SRC = resolve(__dirname, '..', '..');

function controllerFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return controllerFiles(path);
    return entry.name.endsWith('.controller.ts') ? [path] : [];
  });
}

/** Every controller class of the app, from every `*.controller.ts` under src/. */
function controllers(): Controller[] {
  return controllerFiles(SRC).flatMap((file) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- every controller file, found at run time
    Object.values(require(file) as Record<string, unknown>).filter(
      (value): value is Controller => typeof value === 'function' && Reflect.getMetadata(PATH_METADATA, value) !== undefined,
    ),
  );
}

interface Route {
  name: string;
  takesBody: boolean;
  /** The route's own guards in the order Nest runs them: the controller's, then the method's. */
  guards: unknown[];
}

function routesOf(controller: Controller): Route[] {
  const prototype = controller.prototype as Record<string, unknown>;
  return Object.getOwnPropertyNames(prototype)
    .filter((name) => name !== 'constructor' && typeof prototype[name] === 'function')
    .filter((name) => Reflect.getMetadata(PATH_METADATA, prototype[name] as object) !== undefined)
    .map((name) => {
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, unknown>;
      return {
        name: `${controller.name}.${name}`,
        takesBody: Object.keys(args).some((key) => key.split(':')[0] === String(RouteParamtypes.BODY)),
        guards: [
          ...((Reflect.getMetadata(GUARDS_METADATA, controller) as unknown[] | undefined) ?? []),
          ...((Reflect.getMetadata(GUARDS_METADATA, prototype[name] as object) as unknown[] | undefined) ?? []),
        ],
      };
    });
}

describe('request bodies are read after every guard of their route', () => {
  const routes = controllers().flatMap(routesOf);

  it('finds the routes of the app', () => {
    expect(routes.map((route) => route.name)).toEqual(
      expect.arrayContaining(['ChatController.createCompletion', 'AdminApiController.upload']),
    );
  });

  it('reads the body of every route that takes one (@ReadsBody), as its last guard', () => {
    const wrong = routes
      .filter((route) => route.takesBody)
      .filter((route) => route.guards[route.guards.length - 1] !== BodyReadingGuard)
      .map((route) => route.name);
    expect(wrong).toEqual([]);
  });

  it('reads no body where the route takes none, and never before another guard', () => {
    const wrong = routes
      .filter((route) => route.guards.includes(BodyReadingGuard))
      .filter((route) => !route.takesBody || route.guards.indexOf(BodyReadingGuard) !== route.guards.length - 1)
      .map((route) => route.name);
    expect(wrong).toEqual([]);
  });
});
