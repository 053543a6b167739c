/**
 * Structured logs (pino): one JSON line per lifecycle event. Nothing is logged per heartbeat at
 * info level. Tests pass their own destination to read the lines.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { name: 'leasehold', level, base: { pid: process.pid } };
  return destination ? pino(options, destination) : pino(options);
}
