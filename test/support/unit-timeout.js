// setupFilesAfterEnv of the unit project: some unit tests do real I/O (the file store across many simulated days, a
// local auth server), and on a busy machine that outlasts Jest's default 5 s. No test is about speed, so none ends on
// a clock it does not control.
jest.setTimeout(60_000);
