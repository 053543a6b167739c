import { Option } from 'commander';

/** Where the daemon's config is looked for when --config is not given. */
export const DEFAULT_CONFIG_PATH = '/etc/leasehold/leasehold.toml';

/** `--config FILE`, shared by `serve` and `check-config`; env LEASEHOLD_CONFIG. */
export function configOption(): Option {
  return new Option('-c, --config <file>', 'the config file (TOML)')
    .env('LEASEHOLD_CONFIG')
    .default(DEFAULT_CONFIG_PATH);
}
