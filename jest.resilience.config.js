// `npm run test:resilience`: the long fault and load tests (kill -9 during writes, the HTTP fuzz, later Redis
// kills), run after `npm test` by .ci/run. One file at a time: each one loads the machine by itself.
const { e2e } = require('./jest.config');

module.exports = {
  projects: [{ ...e2e, displayName: 'resilience', testMatch: ['<rootDir>/test/resilience/**/*.resilience-spec.ts'], testTimeout: 600_000 }],
  maxWorkers: 1,
};
