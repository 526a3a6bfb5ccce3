// Preloaded (`node --expose-gc -r …/gc-on-signal.js dist/main.js`) by tests that measure a server's memory: on
// SIGUSR2 the process runs a full GC and prints its resident set size as `GC-RSS <bytes>` on stderr.
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') global.gc();
  process.stderr.write(`GC-RSS ${process.memoryUsage().rss}\n`);
});
