// BSD loopback encapsulations and raw IP: NULL (4-byte address family in the writer's byte
// order), LOOP (the same in network order) and RAW / IPV4 / IPV6 (no link header at all).

import type { Packet } from '../core/packet.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, decodeEtherType } from './ethernet.js';
import { EV } from './events.js';
import { C_NULL, C_RAW, C_UNKNOWN_ETHERTYPE, truncated, type DecodeStats } from './stats.js';

// AF_INET is 2 everywhere; AF_INET6 differs: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30.
function familyToEtherType(af: number): number {
  if (af === 2) return ETHERTYPE_IPV4;
  if (af === 10 || af === 24 || af === 28 || af === 30) return ETHERTYPE_IPV6;
  return 0;
}

export function decodeNull(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, networkOrder: boolean): void {
  if (end - off < 4) {
    truncated(s, p, 4 - (end - off), EV.NULL_PKT_TOO_SMALL);
    return;
  }
  s.c[C_NULL]++;
  let af: number;
  if (networkOrder) {
    af = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  } else {
    // Host order of the writer: small values in the low bytes mean little-endian.
    af = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
    if (af > 0xffff) af = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  }
  const type = familyToEtherType(af);
  if (type === 0) {
    s.c[C_UNKNOWN_ETHERTYPE]++;
    return;
  }
  decodeEtherType(s, p, b, off + 4, end, type);
}

/** Raw IP: the version nibble says IPv4 or IPv6. `only` pins the version (LINKTYPE_IPV4/IPV6). */
export function decodeRaw(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, only: 0 | 4 | 6): void {
  s.c[C_RAW]++;
  if (end - off < 1) {
    truncated(s, p, 1, only === 6 ? EV.IPV6_PKT_TOO_SMALL : EV.IPV4_PKT_TOO_SMALL);
    return;
  }
  const v = only !== 0 ? only : b[off]! >> 4;
  if (v === 4) decodeEtherType(s, p, b, off, end, ETHERTYPE_IPV4);
  else if (v === 6) decodeEtherType(s, p, b, off, end, ETHERTYPE_IPV6);
  else s.c[C_UNKNOWN_ETHERTYPE]++;
}
