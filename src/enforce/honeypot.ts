// Honeypot replies (the seed's SYN-ACK trick): a SYN from a source already classified as a
// scanner, to a port nothing listens on, is answered with a forged SYN-ACK injected on the
// capture interface, so closed ports look open to the scanner and its next move shows. Off by
// default; rate-limited; never for protected sources (they never become scanners here); only
// for allow-listed ports when a list is given. IPv4 and IPv6 over Ethernet (VLAN tags kept).

import type { Decision, Lift } from '../core/notice.js';
import { PF, TCP, type Packet } from '../core/packet.js';

export interface HoneypotConfig {
  /** Allowed destination ports; empty: any. */
  ports: readonly number[];
  /** Replies a second, over all sources. */
  rate: number;
  /** How long an alerted (not banned) source stays a scanner, seconds. */
  memory: number;
}

/** At most this many scanners are remembered (the oldest is forgotten first). */
const MAX_SCANNERS = 65536;
/** How long what a scanner sends to an answered port is recorded, seconds. */
const FOLLOW_UP = 60;
const ETHERNET = 1;

function sum16(b: Uint8Array, from: number, to: number, acc: number): number {
  for (let i = from; i + 1 < to; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if ((to - from) & 1) acc += b[to - 1]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

export class Honeypot {
  /** Scanners by address key ("w0:w1:w2:w3"), with the time they stop being answered. */
  private readonly scanners = new Map<string, number>();
  /** IPv4 scanners by address word: the hot-path check, no string built per SYN. */
  private readonly v4 = new Map<number, number>();
  private readonly allowed: Uint8Array | null;
  /** Ports something listens on (refreshed by the daemon from /proc/net/tcp*). */
  listening = new Uint8Array(65536);
  private tokens: number;
  private tokensAt = 0;
  private readonly frame = Buffer.alloc(128);
  /** Sends a frame on the capture interface; false when the interface refused it (counted). */
  inject: ((frame: Buffer) => boolean | void) | null = null;
  /** Ports answered per scanner (v4: address * 65536 + port; v6: text), until when to watch. */
  private readonly answered = new Map<number | string, number>();
  readonly stats = {
    replies: 0,
    rate_limited: 0,
    not_allowed: 0,
    listening: 0,
    not_injectable: 0,
    inject_failed: 0,
    scanners: 0,
    /** What scanners did next on answered ports: reset, completed the handshake, sent data. */
    followup_rst: 0,
    followup_ack: 0,
    followup_data: 0,
    followup_bytes: 0,
  };

  constructor(private readonly cfg: HoneypotConfig) {
    this.tokens = cfg.rate;
    if (cfg.ports.length === 0) this.allowed = null;
    else {
      this.allowed = new Uint8Array(65536);
      for (const p of cfg.ports) this.allowed[p] = 1;
    }
  }

  /** A reported, unprotected source becomes a scanner; until its ban ends, or `memory` for alerts. */
  onDecision(d: Decision, now: number): void {
    if (d.action === 'ignore' || d.protectedBy !== null) return;
    const s = d.notice.src;
    const until = d.ban ? d.ban.until : now + this.cfg.memory;
    const key = `${s.w0}:${s.w1}:${s.w2}:${s.w3}`;
    if (!this.scanners.has(key) && this.scanners.size >= MAX_SCANNERS) this.forgetOldest();
    this.scanners.set(key, until);
    if (!s.v6) this.v4.set(s.w3 | 0, until);
    this.stats.scanners = this.scanners.size;
  }

  /** A lifted ban ends the answers to every scanner inside it. */
  onLift(l: Lift): void {
    for (const key of [...this.scanners.keys()]) {
      const [w0, w1, w2, w3] = key.split(':').map(Number) as [number, number, number, number];
      if (l.ban.scope.contains(w0, w1, w2, w3)) {
        this.scanners.delete(key);
        if (w0 === 0 && w1 === 0 && w2 === 0xffff) this.v4.delete(w3 | 0);
      }
    }
    this.stats.scanners = this.scanners.size;
  }

  private forgetOldest(): void {
    const k = this.scanners.keys().next().value as string;
    this.scanners.delete(k);
    const w = k.split(':').map(Number);
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) this.v4.delete(w[3]! | 0);
  }

  private isScanner(p: Packet, now: number): boolean {
    let until: number | undefined;
    if ((p.flags & PF.V6) === 0) until = this.v4.get(p.src3 | 0);
    else until = this.scanners.get(`${p.src0 >>> 0}:${p.src1 >>> 0}:${p.src2 >>> 0}:${p.src3 >>> 0}`);
    return until !== undefined && until > now;
  }

  private answeredKey(p: Packet): number | string {
    return (p.flags & PF.V6) === 0 ? (p.src3 >>> 0) * 65536 + p.dport : `${p.src0 >>> 0}:${p.src1 >>> 0}:${p.src2 >>> 0}:${p.src3 >>> 0}|${p.dport}`;
  }

  /**
   * Per packet (only when enabled): answers a scanner's SYN to a closed, allowed port, and
   * records what the scanner sends next to the ports it was answered on.
   */
  onPacket(p: Packet, clock: { now: number }): void {
    if (this.scanners.size === 0 || (p.flags & PF.TCP) === 0) return;
    const now = clock.now;
    if (!this.isScanner(p, now)) return;
    if ((p.tcpFlags & (TCP.SYN | TCP.ACK | TCP.RST)) !== TCP.SYN) {
      if (this.answered.size !== 0 && (this.answered.get(this.answeredKey(p)) ?? 0) > now) this.followUp(p);
      return;
    }
    const port = p.dport;
    if (this.allowed !== null && this.allowed[port] === 0) {
      this.stats.not_allowed++;
      return;
    }
    if (this.listening[port] === 1) {
      this.stats.listening++;
      return;
    }
    if (this.tokensAt !== 0) this.tokens = Math.min(this.cfg.rate, this.tokens + (now - this.tokensAt) * this.cfg.rate);
    this.tokensAt = now;
    if (this.tokens < 1) {
      this.stats.rate_limited++;
      return;
    }
    const frame = this.build(p);
    if (frame === null || this.inject === null) {
      this.stats.not_injectable++;
      return;
    }
    this.tokens -= 1;
    if (this.inject(frame) === false) {
      this.stats.inject_failed++;
      return;
    }
    this.stats.replies++;
    if (this.answered.size >= MAX_SCANNERS) this.answered.clear();
    this.answered.set(this.answeredKey(p), now + FOLLOW_UP);
  }

  private followUp(p: Packet): void {
    const s = this.stats;
    if ((p.tcpFlags & TCP.RST) !== 0) s.followup_rst++;
    else if (p.payLen > 0) {
      s.followup_data++;
      s.followup_bytes += p.payLen;
    } else if ((p.tcpFlags & TCP.ACK) !== 0) s.followup_ack++;
  }

  /** The SYN-ACK answering `p`, or null when its link layer cannot be answered. */
  build(p: Packet): Buffer | null {
    if (p.linktype !== ETHERNET || p.l3Off < 0 || p.l4Off < 0 || (p.flags & PF.TUNNEL) !== 0) return null;
    const d = p.data;
    const l2 = p.l3Off - p.off;
    const v6 = (p.flags & PF.V6) !== 0;
    const l3 = v6 ? 40 : 20;
    if (l2 < 14 || l2 > 22 || (!v6 && p.l4Off - p.l3Off < 20)) return null;
    const f = this.frame;
    // Link layer: the SYN's header with the addresses swapped (VLAN tags kept).
    f.set(d.subarray(p.off, p.l3Off), 0);
    f.set(d.subarray(p.off + 6, p.off + 12), 0);
    f.set(d.subarray(p.off, p.off + 6), 6);
    if (v6) f.writeUInt16BE(0x86dd, l2 - 2);
    else f.writeUInt16BE(0x0800, l2 - 2);
    const ip = l2;
    const tcp = ip + l3;
    const tcpLen = 24; // header + MSS option
    if (v6) {
      f.writeUInt32BE(0x60000000, ip);
      f.writeUInt16BE(tcpLen, ip + 4);
      f[ip + 6] = 6;
      f[ip + 7] = 64;
      f.set(d.subarray(p.l3Off + 24, p.l3Off + 40), ip + 8); // source: the SYN's destination
      f.set(d.subarray(p.l3Off + 8, p.l3Off + 24), ip + 24);
    } else {
      f[ip] = 0x45;
      f[ip + 1] = 0;
      f.writeUInt16BE(20 + tcpLen, ip + 2);
      f.writeUInt16BE((p.ipId * 7919 + 1) & 0xffff, ip + 4);
      f.writeUInt16BE(0x4000, ip + 6); // DF
      f[ip + 8] = 64;
      f[ip + 9] = 6;
      f.writeUInt16BE(0, ip + 10);
      f.set(d.subarray(p.l3Off + 16, p.l3Off + 20), ip + 12);
      f.set(d.subarray(p.l3Off + 12, p.l3Off + 16), ip + 16);
      f.writeUInt16BE(fold(sum16(f, ip, ip + 20, 0)), ip + 10);
    }
    f.writeUInt16BE(p.dport, tcp);
    f.writeUInt16BE(p.sport, tcp + 2);
    // An ISN derived from the probe, so a retransmitted SYN gets the same answer.
    f.writeUInt32BE(Math.imul((p.tcpSeq ^ p.sport ^ (p.dport << 16)) >>> 0, 2654435761) >>> 0, tcp + 4);
    f.writeUInt32BE((p.tcpSeq + 1) >>> 0, tcp + 8);
    f[tcp + 12] = (tcpLen / 4) << 4;
    f[tcp + 13] = TCP.SYN | TCP.ACK;
    f.writeUInt16BE(64240, tcp + 14);
    f.writeUInt16BE(0, tcp + 16);
    f.writeUInt16BE(0, tcp + 18);
    f.writeUInt32BE(0x020405b4, tcp + 20); // MSS 1460
    // Checksum over the pseudo-header (addresses, protocol, length) and the segment.
    let acc = v6 ? sum16(f, ip + 8, ip + 40, 0) : sum16(f, ip + 12, ip + 20, 0);
    acc += 6 + tcpLen;
    acc = sum16(f, tcp, tcp + tcpLen, acc);
    f.writeUInt16BE(fold(acc), tcp + 16);
    return Buffer.from(f.subarray(0, tcp + tcpLen));
  }
}

/** Ports in LISTEN state in /proc/net/tcp or tcp6 text. */
export function listeningPorts(text: string, into: Uint8Array): void {
  for (const line of text.split('\n')) {
    const m = /^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s+[0-9A-F]+:[0-9A-F]{4}\s+0A\s/.exec(line);
    if (m) into[parseInt(m[1]!, 16)] = 1;
  }
}
