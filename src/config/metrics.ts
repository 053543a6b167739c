/**
 * [metrics] (issue 7 §5): an optional HTTP endpoint serving Prometheus text format. Without the
 * table there is no metrics server.
 *
 *   [metrics]
 *   listen = "127.0.0.1:9127"   # one host:port; GET /metrics
 */
import { formatHostPort } from '../protocol/names.js';
import type { ConfigReader } from './reader.js';
import type { Endpoint, ServerConfig } from './types.js';

export interface MetricsConfig {
  readonly listen: Endpoint;
}

export function readMetrics(top: ConfigReader, server: ServerConfig): MetricsConfig | undefined {
  const r = top.child('metrics');
  if (!r) return undefined;
  r.allowOnly(['listen']);
  if (!r.has('listen')) {
    r.problem('listen', 'is required: the "host:port" the metrics endpoint listens on');
    return undefined;
  }
  const endpoints = r.endpoints('listen', '');
  if (endpoints.length > 1) r.problem('listen', `must be one "host:port", got ${endpoints.length}`);
  const listen = endpoints[0];
  if (endpoints.length !== 1 || !listen) return undefined;
  // A clash with a client listener would only show as EADDRINUSE at start: say so here instead.
  const taken = [...server.listen, ...(server.tls?.listen ?? [])];
  if (listen.port !== 0 && taken.some((e) => e.host === listen.host && e.port === listen.port)) {
    r.problem('listen', `is also a [server] listen address (${formatHostPort(listen.host, listen.port)})`);
  }
  return { listen };
}
