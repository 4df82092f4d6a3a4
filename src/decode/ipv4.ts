// IPv4 (RFC 791): header checks, options walk, fragments flagged (later fragments carry no
// transport header), padding trimmed, then the transport dispatch. Checksums are not verified:
// captures taken on the sending host carry offloaded (wrong) checksums.

import { PF, type Packet } from '../core/packet.js';
import { i32, snapCut, u16 } from './bytes.js';
import { EV } from './events.js';
import { decodeIpPayload } from './ip-payload.js';
import { C_IPV4_FRAG, markSnapped, raise, truncated, type DecodeStats } from './stats.js';

export function decodeIPv4(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  const avail = end - off;
  if (avail < 20) {
    truncated(s, p, 20 - avail, EV.IPV4_PKT_TOO_SMALL);
    return;
  }
  const vihl = b[off]!;
  if (vihl >> 4 !== 4) {
    raise(s, p, EV.IPV4_WRONG_IP_VERSION);
    return;
  }
  const hlen = (vihl & 15) << 2;
  if (hlen < 20) {
    raise(s, p, EV.IPV4_HLEN_TOO_SMALL);
    return;
  }
  if (hlen > avail) {
    truncated(s, p, hlen - avail, EV.IPV4_TRUNC_HEADER);
    return;
  }
  const ipLen = u16(b, off + 2);
  if (ipLen < hlen) {
    raise(s, p, EV.IPV4_IPLEN_SMALLER_THAN_HLEN);
    return;
  }
  if (ipLen > avail) {
    if (!snapCut(p, ipLen - avail)) {
      raise(s, p, EV.IPV4_TRUNC_PKT);
      return;
    }
    markSnapped(s, p);
  } else {
    end = off + ipLen; // drop link-layer padding
  }

  p.flags = (p.flags & ~PF.V6) | PF.IPV4;
  p.ipLayers++;
  p.ipVer = 4;
  p.l3Off = off;
  p.ipTos = b[off + 1]!;
  p.ipLen = ipLen;
  p.ipId = u16(b, off + 4);
  const ff = u16(b, off + 6);
  p.ipDf = (ff >> 14) & 1;
  p.fragMore = (ff >> 13) & 1;
  p.fragOff = (ff & 0x1fff) << 3;
  p.ttl = b[off + 8]!;
  const proto = b[off + 9]!;
  p.ipProto = proto;
  p.src0 = 0;
  p.src1 = 0;
  p.src2 = 0xffff;
  p.src3 = i32(b, off + 12);
  p.dst0 = 0;
  p.dst1 = 0;
  p.dst2 = 0xffff;
  p.dst3 = i32(b, off + 16);

  p.ipOptCount = 0;
  if (hlen > 20) walkOptions(s, p, b, off + 20, off + hlen);

  if (p.fragMore !== 0 || p.fragOff !== 0) {
    p.flags |= PF.FRAG;
    s.c[C_IPV4_FRAG]++;
    // As Suricata: no datagram (at least a 20-byte header) can hold data that ends past 65,535.
    if (20 + p.fragOff + ipLen - hlen > 65535) raise(s, p, EV.IPV4_FRAG_PKT_TOO_LARGE);
    if (p.fragOff !== 0) p.flags |= PF.FRAG_LATER;
  }
  decodeIpPayload(s, p, b, off + hlen, end, proto, ipLen - hlen, depth);
}

function walkOptions(s: DecodeStats, p: Packet, b: Uint8Array, o: number, hend: number): void {
  let n = 0;
  while (o < hend) {
    const kind = b[o]!;
    if (kind === 0) break; // end of option list
    if (kind === 1) {
      o++;
      n++;
      continue;
    }
    if (o + 1 >= hend) {
      raise(s, p, EV.IPV4_OPT_INVALID_LEN);
      break;
    }
    const len = b[o + 1]!;
    if (len < 2 || o + len > hend) {
      raise(s, p, EV.IPV4_OPT_INVALID_LEN);
      break;
    }
    o += len;
    n++;
  }
  p.ipOptCount = n;
}
