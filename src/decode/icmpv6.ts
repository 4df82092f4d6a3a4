// ICMPv6 (RFC 4443): type and code, echo identifier and sequence, and for error messages
// (destination unreachable, packet too big, time exceeded, parameter problem) the embedded IPv6
// header and transport ports. Neighbour discovery types are left to the type field.

import { PF, type Packet } from '../core/packet.js';
import { i32, u16 } from './bytes.js';
import { EV } from './events.js';
import { markSnapped, raise, type DecodeStats } from './stats.js';

export function decodeIcmpv6(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, l4Len: number): void {
  const avail = end - off;
  p.l4Off = off;
  if (avail < 8) {
    if (avail >= 2) {
      p.icmpType = b[off]!;
      p.icmpCode = b[off + 1]!;
    }
    p.flags |= PF.L4_PARTIAL;
    if ((p.flags & PF.FRAG) !== 0) {
      // A first fragment may end inside the header: the rest is in the next fragment.
    } else if (l4Len > avail) {
      markSnapped(s, p);
    } else {
      raise(s, p, EV.ICMPV6_PKT_TOO_SMALL);
    }
    return;
  }
  const type = b[off]!;
  p.icmpType = type;
  p.icmpCode = b[off + 1]!;
  p.flags |= PF.ICMP6;
  p.payOff = off + 8;
  p.payLen = end - off - 8;
  if (type === 128 || type === 129) {
    p.icmpId = u16(b, off + 4);
    p.icmpSeq = u16(b, off + 6);
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
  p.inSport = 0;
  p.inDport = 0;
  p.inSrc0 = i32(b, o + 8);
  p.inSrc1 = i32(b, o + 12);
  p.inSrc2 = i32(b, o + 16);
  p.inSrc3 = i32(b, o + 20);
  p.inDst0 = i32(b, o + 24);
  p.inDst1 = i32(b, o + 28);
  p.inDst2 = i32(b, o + 32);
  p.inDst3 = i32(b, o + 36);
  const t = o + 40;
  if (end - t >= 4 && (p.inProto === 6 || p.inProto === 17)) {
    p.inSport = u16(b, t);
    p.inDport = u16(b, t + 2);
  }
  p.flags |= PF.ICMP_EMBED;
}
