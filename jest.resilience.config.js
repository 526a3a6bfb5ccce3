// `npm run test:resilience`: the long fault and load tests (kill -9 during writes, the HTTP fuzz, later Redis
// kills), run after `npm test` by .ci/run. One file at a time: each one loads the machine by itself.
// Each test sets its own (long) time limit.
const { e2e } = require('./jest.config');

module.exports = {
  projects: [{ ...e2e, displayName: 'resilience', testMatch: ['<rootDir>/test/resilience/**/*.resilience-spec.ts'] }],
  maxWorkers: 1,
  forceExit: true,
};
