// TCP (RFC 9293): ports, sequence numbers, flags, window, data offset, and the options that
// fingerprint a stack or a scanner (MSS, window scale, SACK-permitted, timestamps, and the order
// of all options in `tcpOptSig`).

import { PF, TcpOptCode, type Packet } from '../core/packet.js';
import { i32, u16 } from './bytes.js';
import { EV } from './events.js';
import { C_TCP_SYN, l4Short, markSnapped, raise, type DecodeStats } from './stats.js';

export function decodeTcp(s: DecodeStats, p: Packet, b: Uint8Array, off: number, end: number, l4Len: number): void {
  const avail = end - off;
  p.l4Off = off;
  if (avail < 20) {
    // Keep what is there: ports from 4 bytes, flags from 14 (as tcpdump's tcp[13] does).
    if (avail >= 4) {
      p.sport = u16(b, off);
      p.dport = u16(b, off + 2);
    }
    if (avail >= 14) {
      p.tcpFlags = b[off + 13]!;
      if (p.tcpFlags === 0x02) s.c[C_TCP_SYN]++;
    }
    l4Short(s, p, avail, l4Len, EV.TCP_PKT_TOO_SMALL);
    return;
  }
  p.sport = u16(b, off);
  p.dport = u16(b, off + 2);
  p.tcpSeq = i32(b, off + 4);
  p.tcpAck = i32(b, off + 8);
  const doff = (b[off + 12]! >> 4) << 2;
  const flags = b[off + 13]!;
  p.tcpFlags = flags;
  if (flags === 0x02) s.c[C_TCP_SYN]++;
  p.tcpWin = u16(b, off + 14);
  p.tcpUrp = u16(b, off + 18);
  p.tcpHdrLen = doff;
  if (doff < 20) {
    raise(s, p, EV.TCP_HLEN_TOO_SMALL);
    return;
  }
  if (doff > avail) {
    p.flags |= PF.L4_PARTIAL;
    if (doff <= l4Len) {
      if ((p.flags & PF.FRAG) === 0) markSnapped(s, p);
    } else {
      raise(s, p, EV.TCP_TRUNC_HEADER);
    }
    return;
  }
  if (doff > l4Len) {
    raise(s, p, EV.TCP_TRUNC_HEADER);
    return;
  }
  p.flags |= PF.TCP;
  p.tcpOptCount = 0;
  p.tcpOptSig = 0;
  p.tcpMss = -1;
  p.tcpWscale = -1;
  p.tcpSackPerm = 0;
  p.tcpTsVal = -1;
  p.tcpTsEcr = -1;
  if (doff > 20) parseOptions(s, p, b, off + 20, off + doff);
  p.payOff = off + doff;
  p.payLen = l4Len - doff;
}

function parseOptions(s: DecodeStats, p: Packet, b: Uint8Array, o: number, oend: number): void {
  let n = 0;
  let sig = 0;
  while (o < oend) {
    const kind = b[o]!;
    let code: number;
    if (kind === 0) {
      code = TcpOptCode.EOL;
      if (n < 8) sig |= code << (n << 2);
      n++;
      break;
    }
    if (kind === 1) {
      code = TcpOptCode.NOP;
      o++;
    } else {
      if (o + 1 >= oend) {
        raise(s, p, EV.TCP_OPT_INVALID_LEN);
        break;
      }
      const len = b[o + 1]!;
      if (len < 2 || o + len > oend) {
        raise(s, p, EV.TCP_OPT_INVALID_LEN);
        break;
      }
      switch (kind) {
        case 2:
          code = TcpOptCode.MSS;
          if (len === 4) p.tcpMss = u16(b, o + 2);
          else raise(s, p, EV.TCP_OPT_INVALID_LEN);
          break;
        case 3:
          code = TcpOptCode.WSCALE;
          if (len === 3) p.tcpWscale = b[o + 2]!;
          else raise(s, p, EV.TCP_OPT_INVALID_LEN);
          break;
        case 4:
          code = TcpOptCode.SACK_PERM;
          if (len === 2) p.tcpSackPerm = 1;
          else raise(s, p, EV.TCP_OPT_INVALID_LEN);
          break;
        case 5:
          code = TcpOptCode.SACK;
          if ((len - 2) % 8 !== 0 || len < 10) raise(s, p, EV.TCP_OPT_INVALID_LEN);
          break;
        case 8:
          code = TcpOptCode.TS;
          if (len === 10) {
            p.tcpTsVal = i32(b, o + 2);
            p.tcpTsEcr = i32(b, o + 6);
          } else {
            raise(s, p, EV.TCP_OPT_INVALID_LEN);
          }
          break;
        default:
          code = TcpOptCode.OTHER;
      }
      o += len;
    }
    if (n < 8) sig |= code << (n << 2);
    n++;
  }
  p.tcpOptCount = n;
  p.tcpOptSig = sig >>> 0;
}
