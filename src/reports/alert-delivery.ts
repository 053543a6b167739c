/**
 * Delivers alert notifications (issue 7 §4): always a log line (warn when an alert fires, info when
 * it recovers), then to the alert's webhooks (a JSON POST each) and its command (the JSON on
 * stdin). Delivery is fire-and-forget for the daemon: notify() returns at once and nothing the
 * engine does waits for a receiver. At most `maxInFlight` deliveries run at once; beyond that a
 * delivery is dropped with a log line rather than queued without bound.
 *
 * Webhooks: a 2xx answer is success; a network error, a timeout (webhook_timeout), HTTP 5xx, 408 or
 * 429 is retried up to webhook_retries times, waiting 500 ms, 1 s, 2 s… (±25% jitter) in between;
 * any other answer (4xx, a redirect — not followed) fails at once. Failures are logged with the URL
 * (credentials and query string hidden) and the reason.
 *
 * AlertWatch at the bottom ties an AlertEvaluator (alerts.ts) to an AlertDelivery for the daemon.
 */
import { spawn } from 'node:child_process';
import type { AlertConfig } from '../config/alerts.js';
import { formatDuration } from '../config/duration.js';
import { type AlertEngineView, AlertEvaluator, AlertKind, type AlertNotification } from './alerts.js';

/** The part of a pino logger delivery uses. */
export interface AlertLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DeliveryResult {
  readonly target: 'webhook' | 'command';
  /** The URL (credentials and query hidden) or the program. */
  readonly to: string;
  readonly ok: boolean;
  readonly attempts: number;
  /** "HTTP 204", "exit code 0", or why it failed: "timed out after 5s", "HTTP 500", … */
  readonly detail: string;
}

export interface AlertDeliveryOptions {
  readonly logger: AlertLogger;
  readonly alerts: readonly AlertConfig[];
  /** Deliveries (webhook posts with their retries, commands) running at once; default 100. */
  readonly maxInFlight?: number;
  /** The first retry's delay; doubles each time. Default 500 ms. */
  readonly backoffMs?: number;
  /** [0, 1) for the jitter; default Math.random. */
  readonly random?: () => number;
}

/** Beyond this many bytes of a command's stderr, the rest is not kept for the log. */
const STDERR_KEEP = 2048;

export class AlertDelivery {
  readonly #logger: AlertLogger;
  readonly #maxInFlight: number;
  readonly #backoffMs: number;
  readonly #random: () => number;
  #alerts = new Map<string, AlertConfig>();
  readonly #inFlight = new Set<Promise<DeliveryResult>>();
  /** Aborts every request, backoff wait and command: close() after its grace. */
  readonly #abort = new AbortController();
  /** Set by close(): no new delivery and no further retry. */
  #closing = false;
  readonly #wakeBackoffs = new Set<() => void>();

  constructor(options: AlertDeliveryOptions) {
    this.#logger = options.logger;
    this.#maxInFlight = options.maxInFlight ?? 100;
    this.#backoffMs = options.backoffMs ?? 500;
    this.#random = options.random ?? Math.random;
    this.update(options.alerts);
  }

  /** A reload: targets of later notifications come from these (deliveries under way go on). */
  update(alerts: readonly AlertConfig[]): void {
    this.#alerts = new Map(alerts.map((a) => [a.name, a]));
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Logs the notification and starts its deliveries; returns at once. */
  notify(notification: AlertNotification): void {
    const fields = { alert: notification.alert, kind: notification.kind, feature: notification.feature };
    const line = { ...fields, ...(notification.group ? { group: notification.group } : {}) };
    const numbers = { inUse: notification.in_use, free: notification.free, capacity: notification.capacity };
    if (notification.kind === AlertKind.Recovered)
      this.#logger.info({ ...line, ...numbers }, notification.message);
    else this.#logger.warn({ ...line, ...numbers }, notification.message);
    const config = this.#alerts.get(notification.alert);
    if (!config) return;
    for (const run of this.#targets(config, notification)) {
      if (this.#closing) return;
      if (this.#inFlight.size >= this.#maxInFlight) {
        this.#logger.error(
          { ...line, inFlight: this.#inFlight.size },
          'alert delivery dropped: too many deliveries in flight',
        );
        continue;
      }
      // Failures are logged where they happen; the promise never rejects (#settled).
      void this.#track(run());
    }
  }

  /**
   * Delivers to every webhook and the command of `config` and resolves with each result (the CLI's
   * `alerts test`). Results are logged as in notify(), without the notification's own log line.
   */
  deliver(notification: AlertNotification, config: AlertConfig): Promise<DeliveryResult[]> {
    return Promise.all(this.#targets(config, notification).map((run) => this.#track(run())));
  }

  /**
   * Stops retrying and starting deliveries, gives those in flight up to `graceMs` to finish, then
   * aborts the rest (requests cancelled, commands killed).
   */
  async close(graceMs = 1000): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const wake of this.#wakeBackoffs) wake();
    }
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled(this.#inFlight), grace]).finally(() => clearTimeout(timer));
    }
    this.#abort.abort();
    await Promise.allSettled(this.#inFlight);
  }

  #targets(config: AlertConfig, n: AlertNotification): Array<() => Promise<DeliveryResult>> {
    const body = JSON.stringify(n);
    const runs = config.webhooks.map(
      (url) => () => this.#settled(this.#postWebhook(url, body, config, n), 'webhook', redactUrl(url), n),
    );
    const command = config.command;
    if (command) {
      runs.push(() => this.#settled(this.#runCommand(command, body, config, n), 'command', command[0]!, n));
    }
    return runs;
  }

  /** Deliveries report failures as results; this turns anything unforeseen into one, never a rejection. */
  #settled(
    delivery: Promise<DeliveryResult>,
    target: DeliveryResult['target'],
    to: string,
    n: AlertNotification,
  ): Promise<DeliveryResult> {
    return delivery.catch((err: unknown) => {
      this.#logger.error({ alert: n.alert, kind: n.kind, target, to, err }, 'alert delivery failed');
      return { target, to, ok: false, attempts: 1, detail: err instanceof Error ? err.message : String(err) };
    });
  }

  #track(delivery: Promise<DeliveryResult>): Promise<DeliveryResult> {
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
    return delivery;
  }

  async #postWebhook(
    url: string,
    body: string,
    config: AlertConfig,
    n: AlertNotification,
  ): Promise<DeliveryResult> {
    const shown = redactUrl(url);
    let attempts = 0;
    let detail = 'not attempted';
    for (;;) {
      attempts++;
      const outcome = await this.#postOnce(url, body, config.webhookTimeoutMs);
      detail = outcome.detail;
      if (outcome.ok) {
        this.#logger.info(
          { alert: n.alert, kind: n.kind, url: shown, attempts },
          `alert webhook delivered: ${detail}`,
        );
        return { target: 'webhook', to: shown, ok: true, attempts, detail };
      }
      const retry = outcome.retry && attempts <= config.webhookRetries && !this.#closing;
      if (!retry) break;
      this.#logger.warn(
        { alert: n.alert, kind: n.kind, url: shown, attempt: attempts, reason: detail },
        'alert webhook failed; retrying',
      );
      await this.#backoff(attempts);
      if (this.#closing) {
        detail = `${detail}; no retry: shutting down`;
        break;
      }
    }
    this.#logger.error(
      { alert: n.alert, kind: n.kind, url: shown, attempts, reason: detail },
      `alert webhook failed: ${detail}`,
    );
    return { target: 'webhook', to: shown, ok: false, attempts, detail };
  }

  async #postOnce(
    url: string,
    body: string,
    timeoutMs: number,
  ): Promise<{ ok: boolean; retry: boolean; detail: string }> {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'leasehold-alerts' },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.#abort.signal]),
      });
      // Read the answer to the end so the connection can be reused; its content is not needed.
      await response.arrayBuffer().catch(() => undefined);
      const detail = `HTTP ${response.status}`;
      if (response.status >= 200 && response.status < 300) return { ok: true, retry: false, detail };
      const retry = response.status >= 500 || response.status === 408 || response.status === 429;
      const note = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      return { ok: false, retry, detail: detail + note };
    } catch (err) {
      if (timeout.aborted)
        return { ok: false, retry: true, detail: `timed out after ${formatDuration(timeoutMs)}` };
      if (this.#abort.signal.aborted) return { ok: false, retry: false, detail: 'cancelled: shutting down' };
      return { ok: false, retry: true, detail: networkReason(err) };
    }
  }

  /** Waits before retry number `attempt` (1, 2, …): 500 ms × 2^(attempt−1), ±25%; close() cuts it short. */
  #backoff(attempt: number): Promise<void> {
    const delay = this.#backoffMs * 2 ** (attempt - 1) * (0.75 + 0.5 * this.#random());
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakeBackoffs.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delay);
      this.#wakeBackoffs.add(wake);
    });
  }

  #runCommand(
    argv: readonly string[],
    body: string,
    config: AlertConfig,
    n: AlertNotification,
  ): Promise<DeliveryResult> {
    const [program, ...args] = argv as [string, ...string[]];
    const result = (ok: boolean, detail: string): DeliveryResult => ({
      target: 'command',
      to: program,
      ok,
      attempts: 1,
      detail,
    });
    return new Promise((resolve) => {
      let stderr = '';
      let timedOut = false;
      let settled = false;
      const finish = (r: DeliveryResult, extra: object = {}) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#abort.signal.removeEventListener('abort', onAbort);
        const fields = { alert: n.alert, kind: n.kind, command: program, ...extra };
        if (r.ok) this.#logger.info(fields, `alert command ran: ${r.detail}`);
        else this.#logger.error({ ...fields, reason: r.detail }, `alert command failed: ${r.detail}`);
        resolve(r);
      };
      const child = spawn(program, args, {
        stdio: ['pipe', 'ignore', 'pipe'],
        shell: false,
        env: { ...process.env, LEASEHOLD_ALERT: n.alert, LEASEHOLD_ALERT_KIND: n.kind },
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, config.commandTimeoutMs);
      const onAbort = () => child.kill('SIGKILL');
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => finish(result(false, `cannot run: ${err.message}`)));
      child.stderr?.on('data', (chunk: Buffer) => {
        if (stderr.length < STDERR_KEEP)
          stderr += chunk.toString('utf8').slice(0, STDERR_KEEP - stderr.length);
      });
      // A program that does not read its stdin closes it early: that is not a failure of the alert.
      child.stdin?.on('error', () => {});
      child.stdin?.end(body);
      child.on('close', (code, signal) => {
        const extra = stderr.trim() ? { stderr: stderr.trim() } : {};
        if (timedOut)
          finish(result(false, `timed out after ${formatDuration(config.commandTimeoutMs)}; killed`), extra);
        else if (signal) finish(result(false, `killed by ${signal}`), extra);
        else finish(result(code === 0, `exit code ${code}`), extra);
      });
    });
  }
}

/** A URL for logs: user:password and the query string (where tokens live) replaced by "***". */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    if (url.search) url.search = '***';
    return url.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** fetch says only "fetch failed"; the reason is its cause ("connect ECONNREFUSED 127.0.0.1:9", "bad port"). */
function networkReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause instanceof Error && cause.message ? `${message}: ${cause.message}` : message;
}

export interface AlertWatchOptions {
  readonly engine: AlertEngineView;
  readonly alerts: readonly AlertConfig[];
  readonly logger: AlertLogger;
  readonly wallClock?: () => number;
}

/** The daemon's alerts: an evaluator on the engine, notifying an AlertDelivery. */
export class AlertWatch {
  readonly delivery: AlertDelivery;
  readonly evaluator: AlertEvaluator;

  constructor(options: AlertWatchOptions) {
    const { logger } = options;
    this.delivery = new AlertDelivery({ logger, alerts: options.alerts });
    this.evaluator = new AlertEvaluator({
      engine: options.engine,
      alerts: options.alerts,
      notify: (n) => this.delivery.notify(n),
      onError: (err) => logger.error({ err }, 'alert notification failed'),
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
    });
  }

  /** A reload: new targets first, so a notification the new list causes goes to its new targets. */
  update(alerts: readonly AlertConfig[]): void {
    this.delivery.update(alerts);
    this.evaluator.update(alerts);
  }

  async close(): Promise<void> {
    this.evaluator.close();
    await this.delivery.close();
  }
}
