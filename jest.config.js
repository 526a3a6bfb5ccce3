// got 14 and its helpers are ESM-only; Jest on Node 20 cannot require() ESM, so swc compiles them to CommonJS.
const esmPackages = [
  'got', '@sindresorhus/is', '@szmarczak/http-timer', 'cacheable-lookup', 'cacheable-request', 'decompress-response',
  'form-data-encoder', 'get-stream', 'is-stream', 'keyv', '@keyv/serialize', 'lowercase-keys', 'mimic-response',
  'normalize-url', 'p-cancelable', 'responselike', 'byte-counter', 'uint8array-extras', '@sec-ant/readable-stream',
  'chunk-data', 'type-fest', 'socks-proxy-agent', 'agent-base',
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

module.exports = {
  projects: [
    { ...shared, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...shared, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
