// setupFilesAfterEnv of the e2e and resilience projects: apps and processes boot slowly on a busy machine, so no
// e2e test ends on Jest's default 5 s (Jest reads a `testTimeout` only from the root config, not per project).
jest.setTimeout(120_000);
