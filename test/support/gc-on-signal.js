// Preloaded (`node --expose-gc -r …/gc-on-signal.js dist/main.js`) by tests that measure a server's memory: on
// SIGWINCH (not SIGUSR2: Nest's shutdown hooks close the app on that one) the process runs a full GC and prints its resident set size and heap use as
// `GC-RSS <bytes> HEAP <bytes>` on stderr.
process.on('SIGWINCH', () => {
  if (typeof global.gc === 'function') global.gc();
  const { rss, heapUsed } = process.memoryUsage();
  process.stderr.write(`GC-RSS ${rss} HEAP ${heapUsed}\n`);
});
