/**
 * The echo bound (issue 8): a server with Leasehold's framing and MessagePack codec that answers
 * every request at once with a fixed reply of the same kind and about the same size, doing nothing
 * else: no engine, no journal, no audit trail. It decodes and validates requests with the daemon's
 * own decoder (decodeClientPayload) and encodes replies with its encoder, so what it reaches is the
 * practical limit of this machine and runtime for this protocol (DESIGN §7).
 *
 *   node bench/echo-server.mjs        prints {"port": N} on stdout once listening on 127.0.0.1
 */
import net from 'node:net';
import { decodeClientPayload, encodeMessage, FrameDecoder } from '../dist/protocol/codec.js';

const LEASE = '0123456789abcdef0123456789abcdef';
const SESSION = 'fedcba9876543210fedcba9876543210';
const RESUME = `${SESSION}${SESSION}`;

/** A reply of the request's kind with fixed contents (schema-valid, so the client's parser accepts it). */
function replyTo(message) {
  const id = message.id;
  switch (message.type) {
    case 'hello':
      return {
        type: 'hello_ok',
        id,
        version: 1,
        server_name: 'echo',
        server_version: '0.0.0',
        session: SESSION,
        resume_token: RESUME,
        resumed: false,
        heartbeat_interval_ms: 5000,
        lease_ttl_ms: 15000,
        max_frame_bytes: 65536,
        capabilities: ['queue', 'models', 'admin'],
        leases: [],
      };
    case 'checkout':
      return {
        type: 'checkout_ok',
        id,
        lease: LEASE,
        feature: message.feature,
        count: message.count ?? 1,
        fencing: 1,
        ttl_ms: 15000,
      };
    case 'checkin':
      return { type: 'checkin_ok', id, released: true };
    case 'heartbeat':
      return { type: 'heartbeat_ok', id, ttl_ms: 15000, lost: [] };
    case 'bye':
      return { type: 'bye_ok', id, released: 0 };
    default:
      return { type: 'error', id, code: 'UNKNOWN_TYPE', message: 'The echo server answers only the bench.' };
  }
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  const decoder = new FrameDecoder((payload) => {
    const message = decodeClientPayload(payload);
    socket.write(encodeMessage(replyTo(message)));
    if (message.type === 'bye') socket.end();
  });
  socket.on('data', (chunk) => {
    try {
      decoder.push(chunk);
    } catch {
      socket.destroy();
    }
  });
});
server.maxConnections = 100_000;
server.listen(0, '127.0.0.1', 4096, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
