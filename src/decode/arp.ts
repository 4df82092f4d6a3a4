// ARP (RFC 826): operation, and for IPv4 over any hardware, the sender and target IPv4 addresses.

import { PF, type Packet } from '../core/packet.js';
import { i32, u16 } from './bytes.js';
import { EV } from './events.js';
import { truncated, type DecodeStats } from './stats.js';

export function decodeArp(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 8) {
    truncated(s, p, 8 - (end - off), EV.ARP_PKT_TOO_SMALL);
    return;
  }
  const ptype = u16(b, off + 2);
  const hlen = b[off + 4]!;
  const plen = b[off + 5]!;
  p.arpOp = u16(b, off + 6);
  p.arpSpa = 0;
  p.arpTpa = 0;
  if (ptype === 0x0800 && plen === 4) {
    if (end - off < 8 + 2 * hlen + 8) {
      truncated(s, p, 8 + 2 * hlen + 8 - (end - off), EV.ARP_PKT_TOO_SMALL);
      return;
    }
    p.arpSpa = i32(b, off + 8 + hlen);
    p.arpTpa = i32(b, off + 8 + 2 * hlen + 4);
  }
  p.flags |= PF.ARP;
}
