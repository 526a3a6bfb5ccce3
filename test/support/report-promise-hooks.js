// Preloaded (`node -r …/report-promise-hooks.js dist/main.js`) by tests that check the server runs without async hooks
// (AsyncLocalStorage turns them on, and then every promise in the process pays for them): on SIGWINCH the process
// prints `PROMISE-HOOKS off` or `PROMISE-HOOKS on` on stderr. A promise reaction runs with `executionAsyncId()` 0
// only while no async hook tracks promises.
const { executionAsyncId } = require('node:async_hooks');

process.on('SIGWINCH', () => {
  void Promise.resolve().then(() => process.stderr.write(`PROMISE-HOOKS ${executionAsyncId() === 0 ? 'off' : 'on'}\n`));
});
