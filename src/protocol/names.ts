/**
 * The name and address rules shared by the wire (PROTOCOL.md §3.3), the config and the SDK, kept
 * in one place so that a name the config accepts is one the wire accepts.
 */

/** Feature and group names: 1..64 letters, digits, "_", "." or "-", starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE = 'letters, digits, "_", "." and "-", starting with a letter or digit';

export function isName(text: string): boolean {
  return NAME_PATTERN.test(text);
}

// C0 and C1 control characters and DEL: never part of a name, a message or an identity.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(value: string): boolean {
  return CONTROL.test(value);
}

/** User names (and host names, up to 255): 1..128 bytes of UTF-8 without control characters. */
export function isUserName(text: string, maxBytes = 128): boolean {
  return text.length > 0 && Buffer.byteLength(text) <= maxBytes && !CONTROL.test(text);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[v6]:port` (port 0..65535); undefined when it is not one. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
