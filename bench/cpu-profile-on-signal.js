// Preloaded by `npm run bench:profile` (`node -r bench/cpu-profile-on-signal.js dist/main.js`): the first SIGWINCH
// starts V8's CPU profiler, the next one writes the profile to $CPU_PROFILE_FILE. Only the load in between is profiled,
// not the start-up or the warm-up. (Not SIGUSR2: Nest's shutdown hooks close the app on that one.)
const inspector = require('node:inspector');
const { renameSync, writeFileSync } = require('node:fs');

const session = new inspector.Session();
session.connect();
let profiling = false;

process.on('SIGWINCH', () => {
  if (!profiling) {
    profiling = true;
    session.post('Profiler.enable', () => session.post('Profiler.start'));
    return;
  }
  profiling = false;
  session.post('Profiler.stop', (error, result) => {
    const file = process.env.CPU_PROFILE_FILE;
    // Written whole, then renamed: the bench waits for the file to appear.
    writeFileSync(`${file}.part`, JSON.stringify(error ? { error: error.message } : result.profile));
    renameSync(`${file}.part`, file);
  });
});
