import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../protocol/vectors/', import.meta.url));

export interface MessageVector {
  name: string;
  hex: string;
  message: Record<string, unknown>;
}
export interface FramingVector {
  name: string;
  hex: string;
  max_frame_bytes?: number;
  frames?: string[];
  error?: string;
}
export interface InvalidVector {
  name: string;
  hex: string;
  error: string;
  field?: string;
}

function load<T>(file: string): T[] {
  return (JSON.parse(readFileSync(dir + file, 'utf8')) as { vectors: T[] }).vectors;
}

export const clientVectors = load<MessageVector>('client.json');
export const serverVectors = load<MessageVector>('server.json');
export const framingVectors = load<FramingVector>('framing.json');
export const invalidVectors = load<InvalidVector>('invalid.json');
