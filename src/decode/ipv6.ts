// IPv6 (RFC 8200): fixed header, then the extension-header chain (hop-by-hop, routing, fragment,
// destination options, AH, mobility, HIP, shim6) walked up to MAX_EXT_HEADERS, with duplicate and
// loop detection, then the transport dispatch.

import { PF, type Packet } from '../core/packet.js';
import { i32, snapCut, u16 } from './bytes.js';
import { EV } from './events.js';
import { decodeIpPayload } from './ip-payload.js';
import { C_IPV6_FRAG, markSnapped, raise, truncated, type DecodeStats } from './stats.js';

export const MAX_EXT_HEADERS = 8;

const NH_HOPOPTS = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_ESP = 50;
const NH_AH = 51;
const NH_NONE = 59;
const NH_DSTOPTS = 60;
const NH_MOBILITY = 135;
const NH_HIP = 139;
const NH_SHIM6 = 140;
const NH_EXP1 = 253;
const NH_EXP2 = 254;

export function decodeIPv6(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  const avail = end - off;
  if (avail < 40) {
    truncated(s, p, 40 - avail, EV.IPV6_PKT_TOO_SMALL);
    return;
  }
  if (b[off]! >> 4 !== 6) {
    raise(s, p, EV.IPV6_WRONG_IP_VERSION);
    return;
  }
  const plen = u16(b, off + 4);
  let nh = b[off + 6]!;
  // A zero payload length with a hop-by-hop header is a jumbogram: trust the capture.
  const total = plen === 0 && nh === NH_HOPOPTS ? avail : 40 + plen;
  if (total > avail) {
    if (!snapCut(p, total - avail)) {
      raise(s, p, EV.IPV6_TRUNC_PKT);
      return;
    }
    markSnapped(s, p);
  } else {
    end = off + total;
  }

  p.flags |= PF.IPV6 | PF.V6;
  p.ipLayers++;
  p.ipVer = 6;
  p.l3Off = off;
  p.ipTos = (u16(b, off) >> 4) & 0xff;
  p.ipLen = total;
  p.ttl = b[off + 7]!;
  p.ipId = 0;
  p.ipDf = 0;
  p.fragOff = 0;
  p.fragMore = 0;
  p.fragHdrOff = -1;
  p.fragNhOff = -1;
  p.src0 = i32(b, off + 8);
  p.src1 = i32(b, off + 12);
  p.src2 = i32(b, off + 16);
  p.src3 = i32(b, off + 20);
  p.dst0 = i32(b, off + 24);
  p.dst1 = i32(b, off + 28);
  p.dst2 = i32(b, off + 32);
  p.dst3 = i32(b, off + 36);

  let cur = off + 40;
  let nhAt = off + 6; // the byte naming the header at `cur`
  let count = 0;
  let seen = 0; // bit per header kind already seen: 1 hop-by-hop, 2 fragment
  walk: for (;;) {
    let len: number;
    switch (nh) {
      case NH_HOPOPTS:
        if (count > 0 || (seen & 1) !== 0) raise(s, p, EV.IPV6_EXTHDR_DUPL_HH);
        seen |= 1;
        len = extLen8(b, cur, end);
        break;
      case NH_ROUTING:
        len = extLen8(b, cur, end);
        if (len > 0 && b[cur + 2] === 0) raise(s, p, EV.IPV6_RH_TYPE_0);
        break;
      case NH_DSTOPTS:
      case NH_MOBILITY:
      case NH_HIP:
      case NH_SHIM6:
      case NH_EXP1:
      case NH_EXP2:
        len = extLen8(b, cur, end);
        break;
      case NH_FRAGMENT: {
        if ((seen & 2) !== 0) raise(s, p, EV.IPV6_EXTHDR_DUPL_FH);
        seen |= 2;
        len = end - cur >= 8 ? 8 : -1;
        if (len > 0) {
          const fo = u16(b, cur + 2);
          p.fragOff = fo & 0xfff8;
          p.fragMore = fo & 1;
          p.ipId = i32(b, cur + 4);
          p.fragHdrOff = cur;
          p.fragNhOff = nhAt;
          if (p.fragOff !== 0 || p.fragMore !== 0) {
            p.flags |= PF.FRAG;
            s.c[C_IPV6_FRAG]++;
            if (p.fragOff !== 0) p.flags |= PF.FRAG_LATER;
            // As Suricata: the fragment's data would end past the largest payload length.
            if (p.fragOff + off + total - (cur + 8) > 65535) raise(s, p, EV.IPV6_FRAG_PKT_TOO_LARGE);
          }
        }
        break;
      }
      case NH_AH:
        len = end - cur >= 8 ? (b[cur + 1]! + 2) << 2 : -1;
        if (len > end - cur) len = -1;
        break;
      default:
        break walk; // transport, ESP, no-next-header or unknown: the chain ends here
    }
    if (len < 0) {
      if (off + total > end) markSnapped(s, p);
      else raise(s, p, EV.IPV6_TRUNC_EXTHDR);
      p.ipOptCount = count;
      p.ipProto = nh;
      return;
    }
    if (++count > MAX_EXT_HEADERS) {
      raise(s, p, EV.IPV6_EXTHDR_TOO_MANY);
      p.ipOptCount = count;
      p.ipProto = nh;
      return;
    }
    nh = b[cur]!;
    nhAt = cur;
    cur += len;
  }
  p.ipOptCount = count;
  p.ipProto = nh;
  if (nh === NH_ESP || nh === NH_NONE) return;
  decodeIpPayload(s, p, b, cur, end, nh, off + total - cur, depth);
}

/** Length of an extension header whose length byte counts 8-octet units beyond the first. */
function extLen8(b: Uint8Array, cur: number, end: number): number {
  if (end - cur < 8) return -1;
  const len = (b[cur + 1]! + 1) << 3;
  return len > end - cur ? -1 : len;
}
