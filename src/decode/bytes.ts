// Big-endian field readers and the snaplen test shared by the decoders. Plain functions on a
// Uint8Array: V8 inlines them, and nothing is allocated.

import type { Packet } from '../core/packet.js';

export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/**
 * A 32-bit big-endian field as a signed int32 bit pattern. Addresses, sequence numbers and other
 * 32-bit values are kept signed so V8 holds them as small integers instead of boxed doubles;
 * `x >>> 0` gives the unsigned value where the number itself matters.
 */
export function i32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/**
 * True when a layer that is `shortBy` bytes short of what its header claims was cut by the
 * capture's snaplen (the bytes existed on the wire), rather than being malformed.
 */
export function snapCut(p: Packet, shortBy: number): boolean {
  return shortBy <= p.wirelen - p.caplen;
}
