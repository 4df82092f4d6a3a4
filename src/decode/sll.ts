// Linux cooked captures: SLL (LINKTYPE_LINUX_SLL, 16-byte header) and SLL2 (LINKTYPE_LINUX_SLL2,
// 20-byte header), as written for `tcpdump -i any`. The protocol field is an EtherType.

import type { Packet } from '../core/packet.js';
import { u16 } from './bytes.js';
import { decodeEtherType } from './ethernet.js';
import { EV } from './events.js';
import { C_SLL, C_SLL2, truncated, type DecodeStats } from './stats.js';

export function decodeSll(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 16) {
    truncated(s, p, 16 - (end - off), EV.SLL_PKT_TOO_SMALL);
    return;
  }
  s.c[C_SLL]++;
  decodeEtherType(s, p, b, off + 16, end, u16(b, off + 14));
}

export function decodeSll2(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 20) {
    truncated(s, p, 20 - (end - off), EV.SLL2_PKT_TOO_SMALL);
    return;
  }
  s.c[C_SLL2]++;
  decodeEtherType(s, p, b, off + 20, end, u16(b, off));
}
