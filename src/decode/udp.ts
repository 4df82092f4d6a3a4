// UDP (RFC 768): ports and the length field, checked against what the IP header leaves for it.

import { PF, type Packet } from '../core/packet.js';
import { u16 } from './bytes.js';
import { EV } from './events.js';
import { l4Short, raise, type DecodeStats } from './stats.js';

export function decodeUdp(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, l4Len: number): void {
  const avail = end - off;
  p.l4Off = off;
  if (avail < 8) {
    if (avail >= 4) {
      p.sport = u16(b, off);
      p.dport = u16(b, off + 2);
    }
    l4Short(s, p, avail, l4Len, EV.UDP_PKT_TOO_SMALL);
    return;
  }
  p.sport = u16(b, off);
  p.dport = u16(b, off + 2);
  const len = u16(b, off + 4);
  p.udpLen = len;
  // A fragmented datagram's length covers every fragment, so only check unfragmented ones.
  if (len < 8 || ((p.flags & PF.FRAG) === 0 && len > l4Len)) {
    raise(s, p, EV.UDP_HLEN_INVALID);
    return;
  }
  p.flags |= PF.UDP;
  p.payOff = off + 8;
  p.payLen = len - 8;
}
