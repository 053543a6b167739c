import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

/** The problems parseConfig reports for `text` as config.toml (none when it is valid). */
export function configProblems(text: string): readonly string[] {
  try {
    parseConfig(text, 'config.toml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
