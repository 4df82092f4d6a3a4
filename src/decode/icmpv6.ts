// ICMPv6 (RFC 4443): type and code, echo identifier and sequence, and for error messages
// (destination unreachable, packet too big, time exceeded, parameter problem) the embedded IPv6
// header and transport ports. Neighbour discovery types are left to the type field.

import { PF, type Packet } from '../core/packet.js';
import { i32 } from './bytes.js';
import { EV } from './events.js';
import { decodeEcho, decodeEmbeddedPorts, decodeIcmpHeader } from './icmpv4.js';
import { raise, type DecodeStats } from './stats.js';

export function decodeIcmpv6(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, l4Len: number): void {
  const type = decodeIcmpHeader(s, p, b, off, end, l4Len, PF.ICMP6, EV.ICMPV6_PKT_TOO_SMALL);
  if (type === 128 || type === 129) {
    decodeEcho(p, b, off);
  } else if (type >= 1 && type <= 4) {
    decodeEmbeddedIPv6(s, p, b, off + 8, end);
  }
}

function decodeEmbeddedIPv6(s: DecodeStats, p: Packet, b: Uint8Array, o: number, end: number): void {
  if (end - o < 40) {
    if (p.caplen >= p.wirelen) raise(s, p, EV.ICMPV6_EMBEDDED_INVALID);
    return;
  }
  if (b[o]! >> 4 !== 6) {
    raise(s, p, EV.ICMPV6_EMBEDDED_INVALID);
    return;
  }
  p.inProto = b[o + 6]!;
  p.inSrc0 = i32(b, o + 8);
  p.inSrc1 = i32(b, o + 12);
  p.inSrc2 = i32(b, o + 16);
  p.inSrc3 = i32(b, o + 20);
  p.inDst0 = i32(b, o + 24);
  p.inDst1 = i32(b, o + 28);
  p.inDst2 = i32(b, o + 32);
  p.inDst3 = i32(b, o + 36);
  decodeEmbeddedPorts(p, b, o + 40, end);
  p.flags |= PF.ICMP_EMBED;
}
