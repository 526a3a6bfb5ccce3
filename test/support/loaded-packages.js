// Preloaded (`node -r …/loaded-packages.js dist/main.js`) by tests of what a start loads: on SIGWINCH (not SIGUSR2:
// Nest's shutdown hooks close the app on that one) the process prints the npm packages it has required so far as
// `LOADED <JSON array of names>` on stderr.
process.on('SIGWINCH', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file);
    if (match) names.add(match[1].replace('\\', '/'));
  }
  process.stderr.write(`LOADED ${JSON.stringify([...names].sort())}\n`);
});
