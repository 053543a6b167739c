/**
 * How a connection releases replies held for the journal (DESIGN §3.6) and how it batches writes:
 * a real ClientConnection and engine behind in-memory streams, with a durability gate the test
 * moves by hand.
 */
import { Duplex, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { OPEN_AUTH } from '../../src/config/auth.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import { encodeMessage, FrameDecoder } from '../../src/protocol/codec.js';
import { type ClientMessage, parseServerMessage, type ServerMessage } from '../../src/protocol/messages.js';
import { decodeMap } from '../../src/protocol/msgpack.js';
import { Authenticator } from '../../src/server/auth.js';
import { ClientConnection } from '../../src/server/connection.js';
import type { DurabilityGate, ServerContext } from '../../src/server/context.js';
import { createLogger } from '../../src/server/logger.js';
import { SessionLinks } from '../../src/server/session-links.js';
import { Sweeper } from '../../src/server/sweeper.js';

/** A journal stand-in: `append` takes a seq, `makeDurable` and `fail` settle the waits. */
class ManualGate implements DurabilityGate {
  lastSeq = 0;
  durableSeq = 0;
  /** whenDurable calls that had to wait. */
  waits = 0;
  #waiting: { seq: number; resolve: () => void; reject: (err: Error) => void }[] = [];

  whenDurable(seq: number): Promise<void> {
    if (seq <= this.durableSeq) return Promise.resolve();
    this.waits++;
    return new Promise((resolve, reject) => this.#waiting.push({ seq, resolve, reject }));
  }

  append(): number {
    return ++this.lastSeq;
  }

  makeDurable(seq = this.lastSeq): void {
    this.durableSeq = seq;
    const still = [];
    for (const w of this.#waiting) {
      if (w.seq <= seq) w.resolve();
      else still.push(w);
    }
    this.#waiting = still;
  }

  fail(): void {
    for (const w of this.#waiting.splice(0)) w.reject(new Error('store failed'));
  }
}

/**
 * The server's end of a connection: what the server writes is decoded into `received`, and every
 * call that hands the stream bytes (a write, or a writev of corked frames) is one entry of `writes`.
 */
class ServerEnd extends Duplex {
  readonly received: ServerMessage[] = [];
  /** Frames per write call. */
  readonly writes: number[] = [];
  readonly #decoder = new FrameDecoder((p) => this.received.push(parseServerMessage(decodeMap(p))));

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writes.push(1);
    this.#decoder.push(chunk);
    done();
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.writes.push(chunks.length);
    for (const { chunk } of chunks) this.#decoder.push(chunk);
    done();
  }

  /** Delivers client frames to the server as one read. */
  send(...messages: ClientMessage[]): void {
    this.push(Buffer.concat(messages.map((m) => encodeMessage(m))));
  }
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

function setup() {
  const clock = { now: () => performance.now() };
  const engine = new LeaseEngine({
    clock,
    leaseTtlMs: 60_000,
    features: [{ name: 'cad', seats: 10, model: 'concurrent' }],
  });
  const logger = createLogger('silent', new Writable({ write: (_c, _e, done) => done() }));
  const sweeper = new Sweeper(engine, clock, () => {});
  const gate = new ManualGate();
  const ctx: ServerContext = {
    engine,
    clock,
    logger,
    links: new SessionLinks(),
    sweeper,
    auth: new Authenticator(OPEN_AUTH, clock, logger),
    journal: gate,
    audit: { record: () => undefined },
    admin: { reload: () => ({ added: [], removed: [], changed: [] }), requestShutdown: () => {} },
    limits: {
      maxFrameBytes: 65_536,
      handshakeTimeoutMs: 5000,
      maxWriteBufferBytes: 1 << 20,
      heartbeatIntervalMs: 1000,
    },
    serverName: 'leasehold',
    serverVersion: 'test',
    startedAt: clock.now(),
  };
  const ends: ServerEnd[] = [];
  stops.push(() => {
    sweeper.stop();
    for (const end of ends) end.destroy();
  });
  /** A connection past its hello (replies durable at once while nothing is pending). */
  const connect = async (user: string): Promise<ServerEnd> => {
    const end = new ServerEnd();
    ends.push(end);
    new ClientConnection(end, `memory:${user}`, ctx);
    end.send({ type: 'hello', id: 1, versions: [1], client_name: 'test', user, host: 'h' });
    await settle();
    expect(end.received.map((m) => m.type)).toEqual(['hello_ok']);
    end.received.length = 0;
    end.writes.length = 0;
    return end;
  };
  return { gate, connect };
}

/** Lets stream events and promise reactions run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const ids = (end: ServerEnd) => end.received.map((m) => ('id' in m ? m.id : undefined));

describe('replies held for the journal', () => {
  it('are released together when their seq is durable, with one wait for all connections', async () => {
    const { gate, connect } = setup();
    const a = await connect('alice');
    const b = await connect('bob');
    gate.append();
    a.send({ type: 'status', id: 2 });
    b.send({ type: 'status', id: 7 });
    await settle();
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([]);
    expect(gate.waits).toBe(1);

    gate.makeDurable();
    await settle();
    expect(ids(a)).toEqual([2]);
    expect(ids(b)).toEqual([7]);
  });

  it('keep their order: a reply after one still held waits for it, and later seqs wait longer', async () => {
    const { gate, connect } = setup();
    const a = await connect('alice');
    gate.append();
    a.send({ type: 'status', id: 2 });
    await settle();
    const second = gate.append();
    a.send({ type: 'status', id: 3 });
    await settle();

    gate.makeDurable(second - 1);
    await settle();
    expect(ids(a)).toEqual([2]);

    gate.makeDurable(second);
    await settle();
    expect(ids(a)).toEqual([2, 3]);
  });

  it('leave in one write when several become durable at once', async () => {
    const { gate, connect } = setup();
    const a = await connect('alice');
    gate.append();
    a.send({ type: 'status', id: 2 });
    await settle();
    a.send({ type: 'status', id: 3 });
    a.send({ type: 'status', id: 4 });
    await settle();
    expect(a.received).toEqual([]);

    gate.makeDurable();
    await settle();
    expect(ids(a)).toEqual([2, 3, 4]);
    expect(a.writes).toEqual([3]);
  });

  it('are dropped, and the connections closed, when the store fails', async () => {
    const { gate, connect } = setup();
    const a = await connect('alice');
    const b = await connect('bob');
    gate.append();
    a.send({ type: 'status', id: 2 });
    b.send({ type: 'status', id: 3 });
    await settle();

    gate.fail();
    await settle();
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([]);
    expect(a.destroyed).toBe(true);
    expect(b.destroyed).toBe(true);
  });
});

describe('requests pipelined in one read', () => {
  it('get their replies in order, all but the first corked into one write', async () => {
    const { connect } = setup();
    const a = await connect('alice');
    a.send(
      { type: 'status', id: 2 },
      { type: 'checkout', id: 3, feature: 'cad' },
      { type: 'status', id: 4 },
      { type: 'leases', id: 5 },
    );
    await settle();
    expect(a.received.map((m) => m.type)).toEqual(['status_ok', 'checkout_ok', 'status_ok', 'leases_ok']);
    expect(ids(a)).toEqual([2, 3, 4, 5]);
    expect(a.writes).toEqual([1, 3]);
  });

  it('end with the error and nothing after it when one of them is fatal', async () => {
    const { connect } = setup();
    const a = await connect('alice');
    const junk = Buffer.from([0, 0, 0, 1, 0xc1]);
    a.push(
      Buffer.concat([
        encodeMessage({ type: 'status', id: 2 }),
        junk,
        encodeMessage({ type: 'status', id: 3 }),
      ]),
    );
    await settle();
    expect(a.received.map((m) => m.type)).toEqual(['status_ok', 'error']);
    expect(a.writableEnded).toBe(true);
  });
});
