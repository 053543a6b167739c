/**
 * Bytes ⇄ typed messages: the framing of frame.ts, the strict MessagePack of msgpack.ts and the
 * schemas of messages.ts put together. Everything here is synchronous and does no I/O.
 */
import { FrameDecoder, HEADER_BYTES } from './frame.js';
import type { ClientMessage, Message, ServerMessage } from './messages.js';
import { parseClientMessage, parseServerMessage } from './messages.js';
import { decodeMap, encodeValueAfter, type WireMap } from './msgpack.js';

/** One message as a whole frame, ready to write: encoded behind room for its header. */
export function encodeMessage(message: Message): Buffer {
  const out = encodeValueAfter(message as unknown as WireMap, HEADER_BYTES);
  out.writeUInt32BE(out.length - HEADER_BYTES, 0);
  return out;
}

/** Decodes one frame payload into a client request (server side). */
export function decodeClientPayload(payload: Uint8Array): ClientMessage {
  return parseClientMessage(decodeMap(payload));
}

/** Decodes one frame payload into a reply or push (SDK side). */
export function decodeServerPayload(payload: Uint8Array): ServerMessage {
  return parseServerMessage(decodeMap(payload));
}

export { FrameDecoder };
