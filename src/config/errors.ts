/** A config file that cannot be used: every problem found, each naming the file and the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(problems.map((p) => `${source}: ${p}`).join('\n'), options);
  }
}
