import { AppConfig } from './app-config';

/** A configuration for unit specs: defaults, strict round-robin, AUTO_SEED on, and whatever the spec overrides. */
export function testConfig(overrides: Partial<AppConfig> = {}): AppConfig {
  return Object.assign(new AppConfig(), { randomToken: false, autoSeed: true, refreshConcurrency: 3 }, overrides);
}
