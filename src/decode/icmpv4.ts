// ICMP for IPv4 (RFC 792): type and code, echo identifier and sequence, and for error messages
// (unreachable, source quench, redirect, time exceeded, parameter problem) the embedded IPv4
// header and transport ports: the evidence that a probe was refused. The header handling shared
// with ICMPv6 lives here too.

import { PF, type Packet } from '../core/packet.js';
import { i32, u16 } from './bytes.js';
import { EV } from './events.js';
import { l4Short, raise, type DecodeStats } from './stats.js';

/**
 * The 8-byte header common to ICMP and ICMPv6: type, code, `flag` set, payload placed. Returns
 * the type, or -1 when the header is short (handled: partial, snapped or event `shortEvent`).
 */
export function decodeIcmpHeader(
  s: DecodeStats,
  p: Packet,
  b: Uint8Array,
  off: number,
  end: number,
  l4Len: number,
  flag: number,
  shortEvent: number,
): number {
  const avail = end - off;
  p.l4Off = off;
  if (avail < 8) {
    if (avail >= 2) {
      p.icmpType = b[off]!;
      p.icmpCode = b[off + 1]!;
    }
    l4Short(s, p, avail, l4Len, shortEvent);
    return -1;
  }
  const type = b[off]!;
  p.icmpType = type;
  p.icmpCode = b[off + 1]!;
  p.flags |= flag;
  p.payOff = off + 8;
  p.payLen = end - off - 8;
  return type;
}

/** Echo identifier and sequence number. */
export function decodeEcho(p: Packet, b: Uint8Array, off: number): void {
  p.icmpId = u16(b, off + 4);
  p.icmpSeq = u16(b, off + 6);
}

/** Ports of the embedded transport header at `t` (protocol in p.inProto), when present. */
export function decodeEmbeddedPorts(p: Packet, b: Uint8Array, t: number, end: number): void {
  p.inSport = 0;
  p.inDport = 0;
  if (end - t >= 4 && (p.inProto === 6 || p.inProto === 17)) {
    p.inSport = u16(b, t);
    p.inDport = u16(b, t + 2);
  }
}

export function decodeIcmpv4(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, l4Len: number): void {
  const type = decodeIcmpHeader(s, p, b, off, end, l4Len, PF.ICMP4, EV.ICMPV4_PKT_TOO_SMALL);
  if (type === 0 || type === 8 || type === 13 || type === 14) {
    decodeEcho(p, b, off);
  } else if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) {
    decodeEmbeddedIPv4(s, p, b, off + 8, end);
  }
}

function decodeEmbeddedIPv4(s: DecodeStats, p: Packet, b: Uint8Array, o: number, end: number): void {
  if (end - o < 20) {
    if (p.caplen >= p.wirelen) raise(s, p, EV.ICMPV4_EMBEDDED_INVALID);
    return;
  }
  const vihl = b[o]!;
  const hlen = (vihl & 15) << 2;
  if (vihl >> 4 !== 4 || hlen < 20 || hlen > end - o) {
    raise(s, p, EV.ICMPV4_EMBEDDED_INVALID);
    return;
  }
  p.inProto = b[o + 9]!;
  p.inSrc0 = 0;
  p.inSrc1 = 0;
  p.inSrc2 = 0xffff;
  p.inSrc3 = i32(b, o + 12);
  p.inDst0 = 0;
  p.inDst1 = 0;
  p.inDst2 = 0xffff;
  p.inDst3 = i32(b, o + 16);
  // Only the first fragment of the probe carries its ports; a later one has none to read.
  const firstFragment = (u16(b, o + 6) & 0x1fff) === 0;
  decodeEmbeddedPorts(p, b, o + hlen, firstFragment ? end : o + hlen);
  p.flags |= PF.ICMP_EMBED;
}
