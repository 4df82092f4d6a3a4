// The decode stage's entry point: resets the reused packet struct, counts the packet and hands
// its bytes to the decoder for its link type. Never throws on packet content.

import { LinkType, type Packet } from '../core/packet.js';
import { decodeEthernet } from './ethernet.js';
import { EV } from './events.js';
import { decodeNull, decodeRaw } from './null.js';
import { decodeSll, decodeSll2 } from './sll.js';
import { C_BYTES, C_INVALID, C_PKTS, DecodeStats, raise } from './stats.js';

/** The link types `Decoder.decode` dispatches on; packets of any other link type are counted, not inspected. */
export const SUPPORTED_LINKTYPES: ReadonlySet<number> = new Set([
  LinkType.NULL,
  LinkType.ETHERNET,
  LinkType.RAW,
  12,
  14,
  LinkType.LOOP,
  LinkType.LINUX_SLL,
  LinkType.IPV4,
  LinkType.IPV6,
  LinkType.LINUX_SLL2,
]);

export class Decoder {
  readonly stats: DecodeStats;

  /** `stats`: counters to fill (default: a fresh set); defrag/ passes one sharing the events. */
  constructor(stats?: DecodeStats) {
    this.stats = stats ?? new DecodeStats();
  }

  decode(p: Packet): void {
    p.resetDecode();
    const s = this.stats;
    s.c[C_PKTS]++;
    s.c[C_BYTES] += p.wirelen;
    if (p.caplen === 0) {
      raise(s, p, EV.PKT_ZERO_LEN);
      s.c[C_INVALID]++;
      return;
    }
    const b = p.data;
    const off = p.off;
    const end = off + p.caplen;
    switch (p.linktype) {
      case LinkType.ETHERNET:
        decodeEthernet(s, p, b, off, end);
        break;
      case LinkType.LINUX_SLL:
        decodeSll(s, p, b, off, end);
        break;
      case LinkType.LINUX_SLL2:
        decodeSll2(s, p, b, off, end);
        break;
      case LinkType.RAW:
      case 12:
      case 14:
        decodeRaw(s, p, b, off, end, 0);
        break;
      case LinkType.IPV4:
        decodeRaw(s, p, b, off, end, 4);
        break;
      case LinkType.IPV6:
        decodeRaw(s, p, b, off, end, 6);
        break;
      // Keep SUPPORTED_LINKTYPES in step with these cases.
      case LinkType.NULL:
        decodeNull(s, p, b, off, end, false);
        break;
      case LinkType.LOOP:
        decodeNull(s, p, b, off, end, true);
        break;
      default:
        raise(s, p, EV.LINK_UNSUPPORTED);
    }
    if (p.evCount !== 0) s.c[C_INVALID]++;
  }
}
