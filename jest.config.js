// got 14 and its helpers are ESM-only; Jest on Node 20 cannot require() ESM, so swc compiles them to CommonJS.
const esmPackages = [
  'got',
  '@sindresorhus/is',
  '@szmarczak/http-timer',
  'cacheable-lookup',
  'cacheable-request',
  'decompress-response',
  'form-data-encoder',
  'get-stream',
  'is-stream',
  'keyv',
  '@keyv/serialize',
  'lowercase-keys',
  'mimic-response',
  'normalize-url',
  'p-cancelable',
  'responselike',
  'byte-counter',
  'uint8array-extras',
  '@sec-ant/readable-stream',
  'chunk-data',
  'type-fest',
  'socks-proxy-agent',
  'agent-base',
];

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

const shared = {
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testEnvironment: 'node',
};

/**
 * End-to-end suites boot apps and processes: a busy machine makes that slow, so no test of theirs ends on time
 * (suites that start several processes set longer limits). Child processes run the built `dist/main.js`, built
 * once per run by the global setup. The long fault and load tests (`test/resilience/`) are a project of their
 * own, run by `npm run test:resilience` (jest.resilience.config.js), not by `npm test`.
 */
const e2e = {
  ...shared,
  rootDir: __dirname,
  setupFilesAfterEnv: ['<rootDir>/test/support/e2e-timeout.js'],
  slowTestThreshold: 30,
  globalSetup: '<rootDir>/test/support/build-once.js',
};

module.exports = {
  // A suite's last keep-alive socket or timer must not hold CI open after every test has passed: Jest exits at the end
  // and still reports any test that failed.
  forceExit: true,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      rootDir: __dirname,
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/unit-timeout.js'],
    },
    {
      ...e2e,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/resilience/'],
    },
  ],
};
// For jest.resilience.config.js; not enumerable, so Jest's option check does not see it.
Object.defineProperty(module.exports, 'e2e', { value: e2e, enumerable: false });
