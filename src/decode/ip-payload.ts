// Dispatch on the IP protocol number (shared by IPv4 and IPv6): TCP, UDP, ICMP, ICMPv6 and IP
// tunnels (IPv4/IPv6 in IPv4/IPv6), the tunnel depth capped at MAX_IP_LAYERS. Protocol counters
// count every packet whose IP header names the protocol, later fragments included (as tcpdump's
// `tcp`, `udp`, `icmp` filters do).

import { PF, type Packet } from '../core/packet.js';
import { EV } from './events.js';
import { decodeIcmpv4 } from './icmpv4.js';
import { decodeIcmpv6 } from './icmpv6.js';
import { decodeIPv4 } from './ipv4.js';
import { decodeIPv6 } from './ipv6.js';
import {
  C_ICMPV4,
  C_ICMPV6,
  C_IPV4_IN_IPV4,
  C_IPV4_IN_IPV6,
  C_IPV6_IN_IPV4,
  C_IPV6_IN_IPV6,
  C_OTHER_IPPROTO,
  C_TCP,
  C_UDP,
  raise,
  type DecodeStats,
} from './stats.js';
import { decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';

/** IP layers allowed in one packet (the outer one plus nested tunnels). */
export const MAX_IP_LAYERS = 4;

export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;

/**
 * Decodes what follows an IP header: `off..end` are the captured bytes, `l4Len` the transport
 * length the IP header claims (larger than end - off when the snaplen cut the packet).
 */
export function decodeIpPayload(
  s: DecodeStats,
  p: Packet,
  b: Uint8Array,
  off: number,
  end: number,
  proto: number,
  l4Len: number,
  depth: number,
): void {
  const later = (p.flags & PF.FRAG_LATER) !== 0;
  switch (proto) {
    case IPPROTO_TCP:
      s.c[C_TCP]++;
      if (!later) decodeTcp(s, p, b, off, end, l4Len);
      return;
    case IPPROTO_UDP:
      s.c[C_UDP]++;
      if (!later) decodeUdp(s, p, b, off, end, l4Len);
      return;
    case IPPROTO_ICMP:
      s.c[C_ICMPV4]++;
      if (!later) decodeIcmpv4(s, p, b, off, end, l4Len);
      return;
    case IPPROTO_ICMPV6:
      s.c[C_ICMPV6]++;
      if (!later) decodeIcmpv6(s, p, b, off, end, l4Len);
      return;
    case IPPROTO_IPIP:
    case IPPROTO_IPV6:
      if (later) return;
      if (depth + 1 >= MAX_IP_LAYERS) {
        raise(s, p, EV.IP_TOO_MANY_LAYERS);
        return;
      }
      p.flags |= PF.TUNNEL;
      p.flags &= ~(PF.FRAG | PF.FRAG_LATER);
      if (proto === IPPROTO_IPIP) {
        s.c[p.ipVer === 4 ? C_IPV4_IN_IPV4 : C_IPV4_IN_IPV6]++;
        decodeIPv4(s, p, b, off, end, depth + 1);
      } else {
        s.c[p.ipVer === 4 ? C_IPV6_IN_IPV4 : C_IPV6_IN_IPV6]++;
        decodeIPv6(s, p, b, off, end, depth + 1);
      }
      return;
    default:
      s.c[C_OTHER_IPPROTO]++;
  }
}
