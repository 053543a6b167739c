/** [metrics] (issue 7 §5): one listen endpoint; absent table = no metrics server. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';

describe('[metrics]', () => {
  it('is absent by default: no metrics server', () => {
    expect(parseConfig('').metrics).toBeUndefined();
  });

  it('reads one host:port, IPv6 in brackets', () => {
    expect(parseConfig('[metrics]\nlisten = "127.0.0.1:9127"').metrics).toEqual({
      listen: { host: '127.0.0.1', port: 9127 },
    });
    expect(parseConfig('[metrics]\nlisten = "[::1]:0"').metrics).toEqual({
      listen: { host: '::1', port: 0 },
    });
  });

  it.each([
    ['[metrics]\nlisten = "localhost"', 'metrics.listen: must be "host:port"'],
    ['[metrics]\nlisten = "127.0.0.1:70000"', 'metrics.listen: must be "host:port"'],
    ['[metrics]\nlisten = 9127', 'metrics.listen: must be "host:port"'],
    ['[metrics]\nlisten = []', 'metrics.listen: must name at least one host:port'],
    ['[metrics]\nlisten = ["127.0.0.1:1", "127.0.0.1:2"]', 'metrics.listen: must be one "host:port", got 2'],
    ['[metrics]', 'metrics.listen: is required'],
    [
      '[metrics]\nlisten = "127.0.0.1:9127"\npath = "/m"',
      'metrics.path: unknown key (known keys here: listen)',
    ],
    ['metrics = "127.0.0.1:9127"', 'metrics: must be a table ([metrics])'],
    [
      '[server]\nlisten = "127.0.0.1:27000"\n[metrics]\nlisten = "127.0.0.1:27000"',
      'metrics.listen: is also a [server] listen address (127.0.0.1:27000)',
    ],
  ])('%j is refused', (text, message) => {
    const found = configProblems(text);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
  });

  it('port 0 (tests) may repeat a [server] port 0', () => {
    expect(configProblems('[server]\nlisten = "127.0.0.1:0"\n[metrics]\nlisten = "127.0.0.1:0"')).toEqual([]);
  });
});
