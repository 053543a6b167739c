/**
 * A client process holding one lease through the SDK (LeaseholdClient), for the reclaim-delay
 * measurement: bench/run.mjs SIGKILLs it and times how long the daemon takes to free the seat.
 *
 *   node bench/sdk-holder.mjs HOST:PORT FEATURE
 *
 * Prints JSON lines on stdout: {"event":"leased"} once it holds the lease, then
 * {"event":"heartbeat","at":<epoch ms>} each time the server's heartbeat reply arrives (after the
 * checkout the lease's heartbeats are the only traffic on the connection, so every chunk the
 * server sends is one heartbeat_ok). `at` uses performance.timeOrigin, comparable across processes.
 */
import net from 'node:net';
import { LeaseholdClient } from '../dist/index.js';

const [server, feature] = process.argv.slice(2);
let leased = false;
const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

// The SDK accepts any Duplex: a plain TCP socket that also tells us when a reply arrives.
function transport(address, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timed out'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('data', () => {
        if (leased) say({ event: 'heartbeat', at: now() });
      });
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const client = await LeaseholdClient.connect({
  servers: [server],
  user: 'holder',
  host: `holder-${process.pid}`,
  clientName: 'bench-holder',
  transport,
});
await client.checkout(feature);
leased = true;
say({ event: 'leased', at: now() });
// Held until the bench kills this process.
setInterval(() => {}, 1 << 30);
