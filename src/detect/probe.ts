// What the scan detectors see of a packet: a scan event. The track stage marks the packets that
// matter (a flow opened, first answered, or closed) and ICMP errors carry the probe they answer;
// everything else (the bulk of established traffic) is skipped with one test. This module turns
// such a packet into a reused `ScanEvent`: probe, answer, reject or close, with the initiator,
// the target, the port and the probe class. It also reads tool fingerprints off probes.

import type { CidrSet } from '../core/addr.js';
import { FE, PF, TCP, TcpOptCode, type Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';

/** Probe classes: what the initiator's first packet of a flow looked like. */
export const PC = { NONE: 0, SYN: 1, FIN: 2, NULL: 3, XMAS: 4, ACK: 5, MAIMON: 6, UDP: 7, ICMP: 8 } as const;
export const PROBE_CLASS_COUNT = 9;

/** The notice kind of a vertical scan of each class (SYN probes may also be `connect_scan`). */
export const SCAN_KIND = ['', 'syn_scan', 'fin_scan', 'null_scan', 'xmas_scan', 'ack_scan', 'maimon_scan', 'udp_scan', 'icmp_scan'] as const;
/** Short probe names for evidence. */
export const PROBE_NAME = ['', 'syn', 'fin', 'null', 'xmas', 'ack', 'maimon', 'udp', 'icmp_echo'] as const;

const CORE = TCP.FIN | TCP.SYN | TCP.RST | TCP.PSH | TCP.ACK | TCP.URG;

/** The probe class of a TCP packet that opens a flow, from its flags (ECE/CWR ignored). */
export function tcpProbeClass(flags: number): number {
  const f = flags & CORE;
  if ((f & (TCP.SYN | TCP.ACK | TCP.RST | TCP.FIN)) === TCP.SYN) return PC.SYN;
  switch (f) {
    case 0:
      return PC.NULL;
    case TCP.FIN:
      return PC.FIN;
    case TCP.FIN | TCP.PSH | TCP.URG:
      return PC.XMAS;
    case TCP.ACK:
      return PC.ACK;
    case TCP.FIN | TCP.ACK:
      return PC.MAIMON;
    default:
      return PC.NONE;
  }
}

/** Flag combinations no TCP stack sends: SYN with FIN or RST, FIN with RST. */
export function impossibleFlags(flags: number): boolean {
  return (
    ((flags & TCP.SYN) !== 0 && (flags & (TCP.FIN | TCP.RST)) !== 0) || (flags & (TCP.FIN | TCP.RST)) === (TCP.FIN | TCP.RST)
  );
}

/** Tool fingerprint bits of a probe. */
export const FP = {
  /** nmap raw probe: window 1024-4096, no options or MSS only, TTL below 200. */
  NMAP: 1,
  /** masscan: no TCP options, TTL near 255, window 1024 (or an empty UDP probe with TTL near 255). */
  MASSCAN: 2,
  /** zmap: IPv4 ID 54321. */
  ZMAP: 4,
  /** An operating system's connect(): three or more options with timestamps or SACK. */
  OS_STACK: 8,
  /** Rebuilt from fragments that split its transport header (nmap -f): no normal stack sends it. */
  FRAGMENTED: 16,
} as const;
export const FP_NAMES = ['nmap', 'masscan', 'zmap', 'os_stack', 'fragmented'] as const;
/** Fingerprint counters kept per record (one per FP bit). */
export const FP_COUNTERS = FP_NAMES.length;

function optOnlyMss(p: Packet): boolean {
  return p.tcpOptCount === 1 && (p.tcpOptSig & 0xf) === TcpOptCode.MSS;
}

/** The fingerprint bits of a probe packet. */
export function probeFingerprint(p: Packet): number {
  let fp = (p.flags & PF.L4_SPLIT) !== 0 ? FP.FRAGMENTED : 0;
  const v4 = (p.flags & PF.IPV4) !== 0 && (p.flags & PF.V6) === 0;
  if (v4 && p.ipId === 54321) fp |= FP.ZMAP;
  if ((p.flags & PF.TCP) !== 0) {
    const w = p.tcpWin;
    if (p.tcpOptCount === 0 && p.ttl >= 200 && w === 1024 && (fp & FP.ZMAP) === 0) fp |= FP.MASSCAN;
    else if (p.ttl < 200 && (w === 1024 || w === 2048 || w === 3072 || w === 4096) && (p.tcpOptCount === 0 || optOnlyMss(p))) fp |= FP.NMAP;
    if (p.tcpOptCount >= 3 && (p.tcpSackPerm !== 0 || hasTimestamp(p))) fp |= FP.OS_STACK;
  } else if ((p.flags & PF.UDP) !== 0 && v4 && p.ttl >= 200 && p.payLen === 0 && (fp & FP.ZMAP) === 0) {
    fp |= FP.MASSCAN;
  }
  return fp;
}

/** True when the TCP options include a timestamp. */
export function hasTimestamp(p: Packet): boolean {
  for (let sig = p.tcpOptSig, i = 0; i < 8 && sig !== 0; i++, sig >>>= 4) if ((sig & 0xf) === TcpOptCode.TS) return true;
  return false;
}

/**
 * A packet from a well-known service port to an ephemeral port, opening a flow with a bare ACK,
 * FIN+ACK or UDP: a server's answer whose request went unseen (a flow that timed out, a capture
 * started mid-stream), not a probe. Scans from such a source port (nmap -g 53) still count for
 * the privileged ports they probe.
 */
function looksLikeResponse(sport: number, dport: number): boolean {
  return sport < 1024 && dport >= 1024;
}

/** Scan event types. */
export const SE = {
  /** A new flow from its initiator: a probe of `port` on the target. */
  PROBE: 1,
  /** The target's first reply in the flow, not a reset: the port answered. */
  ANSWER: 2,
  /** A reset from the target, or an ICMP unreachable about the probe: the port refused. */
  REJECT: 3,
  /** A TCP flow the target accepted (SYN-ACK) ended without a byte of data. */
  CLOSE: 4,
} as const;

/** How an accepted flow without data ended. */
export const CLOSE = {
  /** The initiator reset it without completing the handshake (nmap -sS, masscan). */
  HALF_OPEN: 1,
  /** The initiator completed the handshake and then closed (connect() scan). */
  CONNECT: 2,
} as const;

/** A reused, field-only view of one scan event. Addresses are words, as in the packet. */
export class ScanEvent {
  type = 0;
  cls = 0;
  port = 0;
  v6 = false;
  /** The initiator (prober) and the target. */
  i0 = 0;
  i1 = 0;
  i2 = 0;
  i3 = 0;
  t0 = 0;
  t1 = 0;
  t2 = 0;
  t3 = 0;
  /** CLOSE: a CLOSE value. */
  close = 0;
  /** Packet time of the event (a replayed probe keeps the time it was sent). */
  time = 0;
  /** PROBE: the initiator's source port, and the probe's fingerprint bits (FP). */
  sport = 0;
  fp = 0;

  copyFrom(e: ScanEvent): void {
    this.type = e.type;
    this.cls = e.cls;
    this.port = e.port;
    this.v6 = e.v6;
    this.i0 = e.i0;
    this.i1 = e.i1;
    this.i2 = e.i2;
    this.i3 = e.i3;
    this.t0 = e.t0;
    this.t1 = e.t1;
    this.t2 = e.t2;
    this.t3 = e.t3;
    this.close = e.close;
    this.time = e.time;
    this.sport = e.sport;
    this.fp = e.fp;
  }

  /** Writes the initiator's four words into a key from word `at`. */
  keyInitiator(k: Int32Array, at: number): void {
    k[at] = this.i0;
    k[at + 1] = this.i1;
    k[at + 2] = this.i2;
    k[at + 3] = this.i3;
  }

  /** Writes the target's four words into a key from word `at`. */
  keyTarget(k: Int32Array, at: number): void {
    k[at] = this.t0;
    k[at + 1] = this.t1;
    k[at + 2] = this.t2;
    k[at + 3] = this.t3;
  }

  private fromPacket(p: Packet, initiatorIsSrc: boolean): void {
    if (initiatorIsSrc) {
      this.i0 = p.src0;
      this.i1 = p.src1;
      this.i2 = p.src2;
      this.i3 = p.src3;
      this.t0 = p.dst0;
      this.t1 = p.dst1;
      this.t2 = p.dst2;
      this.t3 = p.dst3;
      this.port = p.dport;
      this.sport = p.sport;
    } else {
      this.i0 = p.dst0;
      this.i1 = p.dst1;
      this.i2 = p.dst2;
      this.i3 = p.dst3;
      this.t0 = p.src0;
      this.t1 = p.src1;
      this.t2 = p.src2;
      this.t3 = p.src3;
      this.port = p.sport;
      this.sport = p.dport;
    }
    this.v6 = (p.flags & PF.V6) !== 0;
    this.fp = 0;
  }

  /**
   * Reads the scan event a packet carries, if any. `homeNet` limits targets (null: any).
   * Returns false for the great majority of packets, which carry none.
   */
  read(p: Packet, flows: FlowTable, homeNet: CidrSet | null): boolean {
    const fe = p.flowEv;
    const f = p.flags;
    if (fe === 0) {
      if ((f & PF.ICMP_EMBED) === 0) return false;
      return this.readIcmpError(p, homeNet);
    }
    const isTcp = (f & PF.TCP) !== 0;
    if ((fe & FE.NEW) !== 0 && p.flowDir === 0) {
      let cls: number;
      if (isTcp) cls = tcpProbeClass(p.tcpFlags);
      else if ((f & PF.UDP) !== 0) cls = PC.UDP;
      else cls = p.icmpType === 8 || p.icmpType === 128 ? PC.ICMP : PC.NONE;
      if (cls === PC.NONE || (cls >= PC.ACK && looksLikeResponse(p.sport, p.dport))) return false;
      this.type = SE.PROBE;
      this.cls = cls;
      this.fromPacket(p, true);
      this.fp = probeFingerprint(p);
      if (cls === PC.ICMP) this.port = 0;
    } else if ((fe & FE.FIRST_REPLY) !== 0) {
      const slot = p.flowSlot;
      const cls = isTcp ? tcpProbeClass(flows.tcpFlags(slot, 0)) : (f & PF.UDP) !== 0 ? PC.UDP : PC.ICMP;
      if (cls === PC.NONE) return false;
      this.type = isTcp && (p.tcpFlags & TCP.RST) !== 0 ? SE.REJECT : SE.ANSWER;
      this.cls = cls;
      this.fromPacket(p, false);
      if (cls === PC.ICMP) this.port = 0;
    } else if ((fe & FE.CLOSED) !== 0) {
      const slot = p.flowSlot;
      const f0 = flows.tcpFlags(slot, 0);
      if ((flows.tcpFlags(slot, 1) & (TCP.SYN | TCP.ACK)) !== (TCP.SYN | TCP.ACK) || (f0 & TCP.SYN) === 0) return false;
      if (flows.payload(slot, 0) !== 0 || flows.payload(slot, 1) !== 0) return false;
      this.type = SE.CLOSE;
      this.cls = PC.SYN;
      this.close = (f0 & TCP.ACK) !== 0 ? CLOSE.CONNECT : CLOSE.HALF_OPEN;
      this.fromPacket(p, p.flowDir === 0);
    } else {
      return false;
    }
    return homeNet === null || homeNet.match(this.t0, this.t1, this.t2, this.t3) !== null;
  }

  /** An ICMP destination-unreachable about a TCP or UDP probe: a reject for its sender. */
  private readIcmpError(p: Packet, homeNet: CidrSet | null): boolean {
    const v6 = (p.flags & PF.ICMP6) !== 0;
    if (p.icmpType !== (v6 ? 1 : 3)) return false;
    const proto = p.inProto;
    if (proto !== 6 && proto !== 17) return false;
    this.type = SE.REJECT;
    this.cls = proto === 17 ? PC.UDP : PC.SYN;
    this.port = p.inDport;
    this.sport = p.inSport;
    this.fp = 0;
    this.v6 = v6;
    this.i0 = p.inSrc0;
    this.i1 = p.inSrc1;
    this.i2 = p.inSrc2;
    this.i3 = p.inSrc3;
    this.t0 = p.inDst0;
    this.t1 = p.inDst1;
    this.t2 = p.inDst2;
    this.t3 = p.inDst3;
    return homeNet === null || homeNet.match(this.t0, this.t1, this.t2, this.t3) !== null;
  }
}

/**
 * Values (f64) a record gives its fingerprint counters: they are 32-bit integers, two to a value,
 * so that five of them fit in three (a pair record stays within three cache lines).
 */
export const FP_VALUES = (FP_COUNTERS + 1) >> 1;

/**
 * Adds `n` probes' fingerprint bits (FP) to the per-bit counters at `ints[i]..ints[i + FP_COUNTERS - 1]`
 * (a KeyTable's `ints` view: `i` is twice the values' index).
 */
export function countFingerprint(fp: number, ints: Int32Array, i: number, n = 1): void {
  if (fp === 0) return;
  if ((fp & FP.NMAP) !== 0) ints[i] += n;
  if ((fp & FP.MASSCAN) !== 0) ints[i + 1] += n;
  if ((fp & FP.ZMAP) !== 0) ints[i + 2] += n;
  if ((fp & FP.OS_STACK) !== 0) ints[i + 3] += n;
  if ((fp & FP.FRAGMENTED) !== 0) ints[i + 4] += n;
}
