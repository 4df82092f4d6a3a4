// Flood and DDoS detection, per victim (the destination address): SYN floods (half-open SYNs,
// judged a moment late so that handshakes can complete), ACK and RST floods (packets of no known
// connection), UDP, ICMP and fragment floods, SYN-ACK/RST backscatter (reflection) and UDP
// amplification (unsolicited replies from amplifier ports). A flood is a rate over both an
// absolute floor and a multiple of the victim's own adaptive baseline. Memory is fixed: a table of
// victims with 250 ms buckets, heavy-hitter and distinct-count sketches, never a record per source.
// Notices carry the flood's lifecycle (start, update, end, and a proven source's own notice).
// See docs/floods.md for the model and every default.

import { IpAddr, type CidrSet } from '../core/addr.js';
import { FLOOD_KINDS, type FloodKind } from '../core/kinds.js';
import type { Clock } from '../core/clock.js';
import { KeyTable, prefault } from '../core/key-table.js';
import type { FloodInfo, NoticeQueue } from '../core/notice.js';
import { FE, PF, TCP, type Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';
import { FS } from '../flow/flow-table.js';
import type { Detector, DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { BitSets, mixAddr } from './distinct.js';
import { HH_STRIDE, hhAdd, hhCount, hhDecay, hhFind, hhFlags, hhSetFlag, PORT_STRIDE, portAdd, portDecay, portTop } from './sketch.js';

export { FLOOD_KINDS, type FloodKind };

/** The IP protocol a flood kind's packets carry (0 for fragments, which may carry any). */
export function floodProto(kind: string, v6: boolean): number {
  if (kind === 'udp_flood' || kind === 'udp_amplification') return 17;
  if (kind === 'icmp_flood') return v6 ? 58 : 1;
  return kind === 'frag_flood' ? 0 : 6;
}

export interface FloodThreshold {
  /** Packets a second (over one second). */
  pps: number;
  /** Megabits a second; 0: packets only. */
  mbps: number;
}

export interface FloodConfig {
  enabled: boolean;
  /** Victims tracked at once (~3.9 KiB each, allocated up front); the least recently seen goes first. */
  max_victims: number;
  /** A flood ends after this long under half its threshold. */
  hold: number;
  /** An update notice is issued this often while a flood lasts. */
  update: number;
  /** A flood is a rate over `factor` times the victim's baseline, and over the floor. */
  baseline_factor: number;
  /** The baseline's time constant (an exponentially weighted moving average). */
  baseline_window: number;
  /** A proven source is banned when it sends at least this share of the flood's packets. */
  ban_share: number;
  /** Source ports of UDP amplifiers: their unsolicited replies to a victim are amplification. */
  amplifier_ports: number[];
  thresholds: Record<FloodKind, FloodThreshold>;
}

const C_SYN = 0;
const C_ACK = 1;
const C_RST = 2;
const C_UDP = 3;
const C_ICMP = 4;
const C_FRAG = 5;
const C_REFL = 6;
const C_AMP = 7;
const CLASSES = 8;
/** Classes whose sources can prove themselves by answering the victim's SYN-ACK. */
const TCP_CLASSES = [C_SYN, C_ACK, C_RST, C_REFL] as const;

/** Buckets of 250 ms, 8 of them kept (2 s); a class's rate is the sum of the last 4 (one second). */
const BUCKETS_PER_S = 4;
const RING = 8;
const WIN = 4;
/**
 * A bucket's place in the ring. Bucket numbers (packet seconds times four) are past 2^31, so `%`
 * would be a floating-point remainder (a C call): this is three plain double operations.
 */
const ring = (k: number): number => k - Math.floor(k / RING) * RING;

// Per-victim values (f64) in the key table's record.
const V_BI = 0; // current bucket index (floor(now * 4))
const V_AMPQ = 1; // bytes of the victim's (or spoofed) queries to amplifier ports, since the record began
const V_LCCUR = 2; // which distinct-source bitmap is current (0 or 1)
const V_BOGON = 3; // packets from bogon sources (decayed)
const V_LCSET = 4; // + 0 / 1: bits set in each distinct-source bitmap
const V_AMPB = 6; // bytes of amplifier replies counted as amplification, since the record began
const V_DONE_WIN = 7; // handshakes completed in the last four buckets (the SYN sketch gate)
const V_LCDONE = 8; // + 0 / 1: bits set in each bitmap of sources that completed a handshake
const V_LCSYN = 10; // + 0 / 1: bits set in each bitmap of SYN sources (the half-open count's own)
const V_COMMON = 12;
// Per class, from V_COMMON + c * K_STRIDE.
const K_ACTIVE = 0;
const K_START = 1;
const K_LAST_ABOVE = 2;
const K_PEAK_PPS = 3;
const K_PEAK_BPS = 4;
const K_PKTS = 5;
const K_BYTES = 6;
const K_NEXT_UPDATE = 7;
const K_BASE_PPS = 8;
const K_BASE_BPS = 9;
const K_ID = 10;
const K_WIN_P = 11;
const K_WIN_B = 12;
const K_MITIGATE = 13;
/**
 * The gate: while the window's packets and bytes stay under these, a packet is only counted (the
 * class is far from its floor). 0 while the class is near (sketched) or in a flood: every packet
 * then takes the full path. Set at each bucket boundary, and again whenever the full path finds
 * the class no longer near (a SYN class whose handshakes caught up).
 */
const K_GATE_P = 14;
const K_GATE_B = 15;
const K_STRIDE = 16;
const VALUES = V_COMMON + CLASSES * K_STRIDE;

// Per-victim buckets (f32): per class RING x [packets, bytes], then RING completions (SYN class).
const B_CLASS = RING * 2;
const B_COMPLETIONS = CLASSES * B_CLASS;
const B_STRIDE = B_COMPLETIONS + RING;

// Per-victim sketches (i32): per class, its sources (heavy hitters), its ports and the packets
// counted into each (decayed with them); then two distinct-count bitmaps for all classes.
const HH_K = 6;
const PORT_K = 4;
/** Bits of each distinct-source bitmap: estimates up to m ln m, about 7,000 sources a second. */
const LC_BITS = 1024;
const C_PORTS = HH_K * HH_STRIDE;
const C_HHTOT = C_PORTS + PORT_K * PORT_STRIDE;
const C_PORTTOT = C_HHTOT + 1;
const S_CLASS = C_PORTTOT + 1;
const S_STRIDE = CLASSES * S_CLASS;

/** Heavy-hitter flag bits. */
const F_PROVEN = 1;
const F_REPORTED = 2;

/** A SYN flood needs its SYNs concentrated on one port, or many sources: a port scan is not a flood. */
const SYN_PORT_SHARE = 0.5;
const MANY_SOURCES = 64;
/** Sources that look spoofed: many of them, and few proven. */
const SPOOF_SOURCES = 32;
/** A flood is "from a few real sources" when proven sources send this share of it: no mitigation. */
const REAL_SHARE = 0.8;
/** A reply this many times its request's bytes is amplification (DNS answers are 1 to 5 times). */
const AMP_RATIO = 10;
/**
 * Sources are sketched once a kind's rate to a victim reaches this share of its floor (SYNs:
 * half-open ones): the start notice's sources come from the last quarter of its second at least.
 */
const SKETCH_AT = 0.75;


export const SIG_FLOOD_BASE = 9000200;

const SIGNATURES: Record<FloodKind, string> = {
  syn_flood: 'PALISADE SYN flood',
  ack_flood: 'PALISADE ACK flood (no connection)',
  rst_flood: 'PALISADE RST flood (no connection)',
  udp_flood: 'PALISADE UDP flood',
  icmp_flood: 'PALISADE ICMP flood',
  frag_flood: 'PALISADE IP fragment flood',
  synack_reflection: 'PALISADE SYN-ACK/RST backscatter (TCP reflection)',
  udp_amplification: 'PALISADE UDP amplification (unsolicited amplifier replies)',
};

/** True for IPv4 sources that never appear on the internet (RFC 6890), as a spoofing sign. */
function bogon4(a: number): boolean {
  const o = a >>> 24;
  if (o === 0 || o === 10 || o === 127 || o >= 224) return true;
  const o2 = (a >>> 16) & 0xff;
  return (o === 169 && o2 === 254) || (o === 172 && (o2 & 0xf0) === 16) || (o === 192 && o2 === 168) || (o === 100 && (o2 & 0xc0) === 64);
}

export class FloodDetector implements Detector {
  readonly name = 'flood';
  private readonly t: KeyTable;
  private readonly v: Float64Array;
  private readonly bk: Float32Array;
  private readonly sk: Int32Array;
  /** Two distinct-source bitmaps per victim (this second and the last), and two of the sources that completed a handshake. */
  private readonly lc: BitSets;
  private readonly lcDone: BitSets;
  /**
   * Two bitmaps of the sources of SYNs alone: the half-open source count (SYN sources less those
   * that completed a handshake) must not count a victim's UDP, ICMP or fragment senders.
   */
  private readonly lcSyn: BitSets;
  private readonly amp = new Uint8Array(65536);
  /** Each victim's current bucket's place in the ring (ring(V_BI)), kept as an integer for the packet path. */
  private readonly pos: Int32Array;
  private readonly thrPps = new Float64Array(CLASSES);
  private readonly thrBps = new Float64Array(CLASSES);
  /** The bits floor, Infinity where there is none (for the sketch gate). */
  private readonly thrBpsOrInf = new Float64Array(CLASSES);
  private readonly homeNet: CidrSet | null;
  private readonly flows: FlowTable | null;
  private readonly clock: Clock;
  private floodSeq = 0;
  private active = 0;
  private started = 0;
  private readonly idle: number;

  constructor(
    private readonly cfg: FloodConfig,
    env: DetectorEnv,
  ) {
    this.clock = env.clock;
    this.flows = env.flows;
    this.homeNet = env.homeNet;
    // A victim touched within 250 ms keeps its LRU place (no list writes on the hot path).
    this.t = new KeyTable(4, cfg.max_victims, env.clock, VALUES, 0.25);
    this.v = this.t.vals;
    this.bk = prefault(new Float32Array(cfg.max_victims * B_STRIDE));
    this.pos = new Int32Array(cfg.max_victims);
    this.sk = prefault(new Int32Array(cfg.max_victims * S_STRIDE));
    this.lc = new BitSets(cfg.max_victims * 2, LC_BITS);
    prefault(this.lc.words);
    this.lcDone = new BitSets(cfg.max_victims * 2, LC_BITS);
    prefault(this.lcDone.words);
    this.lcSyn = new BitSets(cfg.max_victims * 2, LC_BITS);
    prefault(this.lcSyn.words);
    for (const port of cfg.amplifier_ports) this.amp[port] = 1;
    FLOOD_KINDS.forEach((k, c) => {
      this.thrPps[c] = cfg.thresholds[k].pps;
      this.thrBps[c] = cfg.thresholds[k].mbps * 1e6;
      this.thrBpsOrInf[c] = this.thrBps[c]! > 0 ? this.thrBps[c]! : Infinity;
    });
    this.idle = Math.max(60, cfg.hold * 2);
    this.t.onRemove = (slot) => {
      // A victim forgotten mid-flood (table full of newer ones) ends its floods silently.
      const b = this.t.valBase(slot) + V_COMMON;
      for (let c = 0; c < CLASSES; c++) if (this.v[b + c * K_STRIDE + K_ACTIVE] !== 0) this.active--;
    };
  }

  onPacket(p: Packet, _clock: Clock, out: NoticeQueue): void {
    if ((p.flags & (PF.TCP | PF.FRAG)) === PF.TCP && (p.flowEv & FE.NEW) === 0) {
      // Most packets are inside a known TCP connection: only a SYN, or the initiator's answer to
      // the SYN-ACK (its second packet, or a RST), counts.
      const tf = p.tcpFlags & (TCP.SYN | TCP.ACK | TCP.RST | TCP.FIN);
      if (tf !== TCP.SYN) {
        if (p.flowDir === 0 && p.flowSlot >= 0 && (p.flowPkts === 2 || ((tf & TCP.RST) !== 0 && p.flowPkts <= 3))) this.answered(p, tf);
        return;
      }
    }
    this.classify(p, out);
  }

  /** The packet's class (or a handshake's answer), and its count. */
  private classify(p: Packet, out: NoticeQueue): void {
    const f = p.flags;
    if ((f & (PF.IPV4 | PF.IPV6)) === 0) return;
    if ((f & PF.FRAG) !== 0) {
      // Defrag is off (else fragments come through onFragment): a fragment is only a fragment.
      this.count(p, C_FRAG, 0, out);
      return;
    }
    let c = -1;
    let port = 0;
    if ((f & PF.TCP) !== 0) {
      const tf = p.tcpFlags & (TCP.SYN | TCP.ACK | TCP.RST | TCP.FIN);
      if (tf === TCP.SYN) {
        c = C_SYN;
        port = p.dport;
      } else if ((p.flowEv & FE.NEW) !== 0) {
        // A packet of no known connection (onPacket took those of known ones).
        if (tf === (TCP.SYN | TCP.ACK) || tf === (TCP.RST | TCP.ACK)) c = C_REFL;
        else if ((tf & TCP.RST) !== 0) c = C_RST;
        else if ((tf & TCP.ACK) !== 0 && (tf & TCP.SYN) === 0) c = C_ACK;
        port = p.dport;
      }
    } else if ((f & PF.UDP) !== 0) {
      if (this.amp[p.dport] === 1 && this.amp[p.sport] === 0) this.victimQuery(p);
      if (p.flowSlot >= 0 && p.flowDir === 1) {
        // A reply to a request from the destination's address: amplification only when it is
        // far larger than the request (queries spoofed from the victim, seen on their way out).
        const fl = this.flows;
        if (fl === null || this.amp[p.sport] === 0 || fl.bytes(p.flowSlot, 1) < AMP_RATIO * fl.bytes(p.flowSlot, 0)) return;
        c = C_AMP;
      } else c = this.amp[p.sport] === 1 && this.amp[p.dport] === 0 ? C_AMP : C_UDP;
      port = p.dport;
    } else if ((f & (PF.ICMP4 | PF.ICMP6)) !== 0) {
      const ty = p.icmpType;
      // Neighbour discovery and multicast listener messages are the link's housekeeping.
      if ((f & PF.ICMP6) !== 0 && ((ty >= 130 && ty <= 137) || ty === 143)) return;
      if (p.flowSlot >= 0 && p.flowDir === 1 && (p.flowEv & FE.NEW) === 0) return; // a reply to its own ping
      c = C_ICMP;
    }
    if (c >= 0) this.count(p, c, port, out);
  }

  /** A fragment, before reassembly (the engine calls this when defrag is on). */
  onFragment(p: Packet, _clock: Clock, out: NoticeQueue): void {
    this.count(p, C_FRAG, 0, out);
  }

  /** The victim's record for the packet's destination (created), or -1 when it is not protected. */
  private victim(p: Packet, out: NoticeQueue): number {
    if (this.homeNet !== null && this.homeNet.match(p.dst0, p.dst1, p.dst2, p.dst3) === null) return -1;
    const t = this.t;
    const k = t.key;
    k[0] = p.dst0;
    k[1] = p.dst1;
    k[2] = p.dst2;
    k[3] = p.dst3;
    const s = t.get();
    const now = this.clock.now;
    if (t.isNew) this.reset(s, now);
    else this.advance(s, Math.floor(now * BUCKETS_PER_S), out);
    return s;
  }

  private reset(s: number, now: number): void {
    const v = this.v;
    const b = this.t.valBase(s);
    v.fill(0, b, b + VALUES);
    v[b + V_BI] = Math.floor(now * BUCKETS_PER_S);
    this.pos[s] = ring(v[b + V_BI]!);
    for (let c = 0; c < CLASSES; c++) this.arm(b, c);
    this.bk.fill(0, s * B_STRIDE, (s + 1) * B_STRIDE);
    this.sk.fill(0, s * S_STRIDE, (s + 1) * S_STRIDE);
    this.lc.clear(s * 2);
    this.lc.clear(s * 2 + 1);
    this.lcDone.clear(s * 2);
    this.lcDone.clear(s * 2 + 1);
    this.lcSyn.clear(s * 2);
    this.lcSyn.clear(s * 2 + 1);
  }

  private count(p: Packet, c: number, port: number, out: NoticeQueue): void {
    const s = this.victim(p, out);
    if (s < 0) return;
    const v = this.v;
    const vb = this.t.valBase(s);
    const kb = vb + V_COMMON + c * K_STRIDE;
    const bytes = p.wirelen;
    const bb = s * B_STRIDE + c * B_CLASS + this.pos[s]! * 2;
    this.bk[bb]++;
    this.bk[bb + 1] += bytes;
    v[kb + K_WIN_P]++;
    v[kb + K_WIN_B] += bytes;
    if (c === C_AMP) v[vb + V_AMPB] += bytes;
    if (c === C_SYN && p.flowSlot >= 0) this.flows!.setAux(p.flowSlot, s + 1);
    // Far from the floor (the common case), a packet is only counted.
    if (v[kb + K_WIN_P]! < v[kb + K_GATE_P]! && v[kb + K_WIN_B]! < v[kb + K_GATE_B]!) return;
    this.near(p, s, vb, kb, c, port, out);
  }

  /**
   * A class at or over its gate: the sketches (sources, ports, distinct count) only matter near a
   * flood, so they are fed from SKETCH_AT of the floor on (SYNs: of half-open ones); a flood's
   * own counts; a start.
   */
  private near(p: Packet, s: number, vb: number, kb: number, c: number, port: number, out: NoticeQueue): void {
    const v = this.v;
    const active = v[kb + K_ACTIVE] !== 0;
    const near = c === C_SYN ? v[kb + K_WIN_P]! - v[vb + V_DONE_WIN]! : v[kb + K_WIN_P]!;
    if (active || near >= this.thrPps[c]! * SKETCH_AT || v[kb + K_WIN_B]! * 8 >= this.thrBpsOrInf[c]! * SKETCH_AT) {
      // Near for the rest of this bucket: windows only grow until the next boundary (SYNs can
      // fall back as handshakes complete, which this path re-checks every packet).
      v[kb + K_GATE_P] = 0;
      v[kb + K_GATE_B] = 0;
      this.sketch(p, s, vb, c, port);
    } else {
      // Handshakes caught up: off the full path until the half-open count reaches the gate again.
      this.arm(vb, c);
      return;
    }
    const bytes = p.wirelen;
    const now = this.clock.now;
    if (active) {
      v[kb + K_PKTS]++;
      v[kb + K_BYTES] += bytes;
      const winP = v[kb + K_WIN_P]!;
      if (winP > v[kb + K_PEAK_PPS]!) v[kb + K_PEAK_PPS] = winP;
      if (v[kb + K_WIN_B]! * 8 > v[kb + K_PEAK_BPS]!) v[kb + K_PEAK_BPS] = v[kb + K_WIN_B]! * 8;
      if (c !== C_SYN && this.over(kb, c, winP, v[kb + K_WIN_B]!, 0.5)) v[kb + K_LAST_ABOVE] = now;
      return;
    }
    // SYNs are judged a bucket or two late (advance), once their handshakes had time to complete.
    if (c !== C_SYN && this.over(kb, c, v[kb + K_WIN_P]!, v[kb + K_WIN_B]!, 1)) this.start(s, c, v[kb + K_WIN_P]!, v[kb + K_WIN_B]!, out);
  }

  /**
   * Sets class `c`'s gate from its window: the packets and bytes at which it becomes near (SYNs:
   * half-open ones, so the handshakes completed so far raise it); 0 while a flood lasts.
   */
  private arm(vb: number, c: number): void {
    const v = this.v;
    const kb = vb + V_COMMON + c * K_STRIDE;
    if (v[kb + K_ACTIVE] !== 0) {
      v[kb + K_GATE_P] = 0;
      v[kb + K_GATE_B] = 0;
      return;
    }
    v[kb + K_GATE_P] = this.thrPps[c]! * SKETCH_AT + (c === C_SYN ? v[vb + V_DONE_WIN]! : 0);
    v[kb + K_GATE_B] = (this.thrBpsOrInf[c]! * SKETCH_AT) / 8;
  }

  private sketch(p: Packet, s: number, vb: number, c: number, port: number): void {
    const v = this.v;
    const cb = s * S_STRIDE + c * S_CLASS;
    const sk = this.sk;
    hhAdd(sk, cb, HH_K, p.src0, p.src1, p.src2, p.src3);
    sk[cb + C_HHTOT]++;
    if (port !== 0) {
      portAdd(sk, cb + C_PORTS, PORT_K, port);
      sk[cb + C_PORTTOT]++;
    }
    const cur = v[vb + V_LCCUR]!;
    const h = mixAddr(p.src0, p.src1, p.src2, p.src3);
    if (this.lc.add(s * 2 + cur, h)) v[vb + V_LCSET + cur]++;
    if (c === C_SYN && this.lcSyn.add(s * 2 + cur, h)) v[vb + V_LCSYN + cur]++;
    if ((p.flags & PF.V6) === 0 && bogon4(p.src3 >>> 0)) v[vb + V_BOGON]++;
  }

  /** True when the rate (`pkts`, `bytes` over one second) is over `scale` times the class's threshold. */
  private over(kb: number, c: number, pkts: number, bytes: number, scale: number): boolean {
    const v = this.v;
    const f = this.cfg.baseline_factor;
    const thrP = Math.max(this.thrPps[c]!, f * v[kb + K_BASE_PPS]!) * scale;
    if (pkts >= thrP) return true;
    const floorB = this.thrBps[c]!;
    return floorB > 0 && bytes * 8 >= Math.max(floorB, f * v[kb + K_BASE_BPS]! * 8) * scale;
  }

  /** A packet from a connection's initiator after its SYN: a completed handshake, or proof of a real source. */
  private answered(p: Packet, tf: number): void {
    const fl = this.flows;
    if (fl === null) return;
    const slot = p.flowSlot;
    const sent = p.flowPkts;
    if ((tf & TCP.SYN) !== 0 || (fl.state(slot) & FS.MIDSTREAM) !== 0) return;
    // The victim's record, as its SYN left it on the flow (`aux`; checked: the slot may have moved on).
    const t = this.t;
    const s = fl.aux(slot) - 1;
    if (s < 0 || !t.isLive(s) || t.keyWord(s, 3) !== p.dst3 >>> 0 || t.keyWord(s, 2) !== p.dst2 >>> 0 || t.keyWord(s, 1) !== p.dst1 >>> 0 || t.keyWord(s, 0) !== p.dst0 >>> 0) return;
    if (sent === 2 && (tf & TCP.ACK) !== 0 && (tf & TCP.RST) === 0) {
      const vb = t.valBase(s);
      this.bk[s * B_STRIDE + B_COMPLETIONS + this.pos[s]!]++;
      this.v[vb + V_DONE_WIN]++;
      const cur = this.v[vb + V_LCCUR]!;
      if (this.lcDone.add(s * 2 + cur, mixAddr(p.src0, p.src1, p.src2, p.src3))) this.v[vb + V_LCDONE + cur]++;
    }
    // Answering the victim's SYN-ACK (with an ACK or a RST) proves the address is the sender's.
    if ((fl.tcpFlags(slot, 1) & TCP.SYN) !== 0 && (tf & (TCP.ACK | TCP.RST)) !== 0) {
      for (const c of TCP_CLASSES) {
        const cb = s * S_STRIDE + c * S_CLASS;
        if (this.sk[cb + C_HHTOT] === 0) continue; // not sketched: no heavy source to prove
        const i = hhFind(this.sk, cb, HH_K, p.src0, p.src1, p.src2, p.src3);
        if (i >= 0) hhSetFlag(this.sk, cb, i, F_PROVEN);
      }
    }
  }

  /** A request to an amplifier port from a protected address: its bytes (the amplification factor). */
  private victimQuery(p: Packet): void {
    if (this.homeNet !== null && this.homeNet.match(p.src0, p.src1, p.src2, p.src3) === null) return;
    const t = this.t;
    const k = t.key;
    k[0] = p.src0;
    k[1] = p.src1;
    k[2] = p.src2;
    k[3] = p.src3;
    // Only an address already seen as a victim: its first answers make it one.
    const s = t.find();
    if (s >= 0) this.v[t.valBase(s) + V_AMPQ] += p.wirelen;
  }

  /**
   * Moves the victim's buckets on to `bi`: each bucket entered judges the SYN class (with a lag)
   * and feeds the baselines; the bucket leaving the one-second window is taken off the sums.
   */
  private advance(s: number, bi: number, out: NoticeQueue): void {
    const v = this.v;
    const vb = this.t.valBase(s);
    let k = v[vb + V_BI]!;
    if (k >= bi) return;
    const last = Math.min(bi, k + RING + WIN);
    const bk = this.bk;
    const bb = s * B_STRIDE;
    const decay = Math.exp(-1 / (BUCKETS_PER_S * this.cfg.baseline_window));
    while (k < last) {
      k++;
      v[vb + V_BI] = k;
      this.pos[s] = ring(k);
      this.judgeSyn(s, k, 2, out);
      for (let c = 0; c < CLASSES; c++) {
        const kb = vb + V_COMMON + c * K_STRIDE;
        const winP = v[kb + K_WIN_P]!;
        const winB = v[kb + K_WIN_B]!;
        if (v[kb + K_ACTIVE] !== 0) {
          if (winP > v[kb + K_PEAK_PPS]!) v[kb + K_PEAK_PPS] = winP;
          if (winB * 8 > v[kb + K_PEAK_BPS]!) v[kb + K_PEAK_BPS] = winB * 8;
        } else if (c !== C_SYN && !this.over(kb, c, winP, winB, 1)) {
          // The baseline learns from quiet time only (a rate under the threshold).
          v[kb + K_BASE_PPS] = v[kb + K_BASE_PPS]! * decay + winP * (1 - decay);
          v[kb + K_BASE_BPS] = v[kb + K_BASE_BPS]! * decay + winB * (1 - decay);
        }
        const old = bb + c * B_CLASS + ring(k - WIN) * 2;
        if (k - WIN >= 0) {
          v[kb + K_WIN_P] = Math.max(0, winP - bk[old]!);
          v[kb + K_WIN_B] = Math.max(0, winB - bk[old + 1]!);
        }
        const cur = bb + c * B_CLASS + ring(k) * 2;
        bk[cur] = 0;
        bk[cur + 1] = 0;
      }
      if (k - WIN >= 0) v[vb + V_DONE_WIN] = Math.max(0, v[vb + V_DONE_WIN]! - bk[bb + B_COMPLETIONS + ring(k - WIN)]!);
      bk[bb + B_COMPLETIONS + ring(k)] = 0;
    }
    if (k < bi) {
      // Quiet for longer than the ring: every bucket is empty.
      v[vb + V_BI] = bi;
      this.pos[s] = ring(bi);
      for (let c = 0; c < CLASSES; c++) {
        const kb = vb + V_COMMON + c * K_STRIDE;
        v[kb + K_WIN_P] = 0;
        v[kb + K_WIN_B] = 0;
      }
      bk.fill(0, bb, bb + B_STRIDE);
      v[vb + V_DONE_WIN] = 0;
    }
    for (let c = 0; c < CLASSES; c++) this.arm(vb, c);
  }

  /**
   * Half-open SYNs: those of the second ending `lag` buckets before bucket `k`, less the handshakes
   * completed since it began. Over the threshold (and on one port, or from many sources), a flood.
   */
  private judgeSyn(s: number, k: number, lag: number, out: NoticeQueue): void {
    const v = this.v;
    const vb = this.t.valBase(s);
    const kb = vb + V_COMMON + C_SYN * K_STRIDE;
    const bk = this.bk;
    const bb = s * B_STRIDE + C_SYN * B_CLASS;
    let syn = 0;
    let bytes = 0;
    let done = 0;
    const from = k - lag - WIN + 1;
    for (let j = from; j <= k; j++) {
      if (j < 0) continue;
      const r = ring(j) * 2;
      if (j <= k - lag) {
        syn += bk[bb + r]!;
        bytes += bk[bb + r + 1]!;
      }
      done += bk[s * B_STRIDE + B_COMPLETIONS + ring(j)]!;
    }
    const half = Math.max(0, syn - done);
    const halfBytes = syn > 0 ? (bytes * half) / syn : 0;
    if (v[kb + K_ACTIVE] !== 0) {
      if (this.over(kb, C_SYN, half, halfBytes, 0.5)) v[kb + K_LAST_ABOVE] = this.clock.now;
      return;
    }
    if (!this.over(kb, C_SYN, half, halfBytes, 1)) {
      const decay = Math.exp(-1 / (BUCKETS_PER_S * this.cfg.baseline_window));
      v[kb + K_BASE_PPS] = v[kb + K_BASE_PPS]! * decay + half * (1 - decay);
      v[kb + K_BASE_BPS] = v[kb + K_BASE_BPS]! * decay + halfBytes * (1 - decay);
      return;
    }
    const cb = s * S_STRIDE + C_SYN * S_CLASS;
    const [, portCount] = portTop(this.sk, cb + C_PORTS, PORT_K);
    const portShare = this.sk[cb + C_PORTTOT]! > 0 ? portCount / this.sk[cb + C_PORTTOT]! : 0;
    if (portShare < SYN_PORT_SHARE && this.halfOpenSources(s) < MANY_SOURCES) return;
    this.start(s, C_SYN, half, halfBytes, out);
  }

  /**
   * Distinct sources of SYNs that completed no handshake: all SYN sources less those that
   * completed one (a busy server's clients are in both), in the current or the last second.
   * Scanners are few; a spoofed flood's sources are many.
   */
  private halfOpenSources(s: number): number {
    const v = this.v;
    const vb = this.t.valBase(s);
    let best = 0;
    for (let i = 0; i < 2; i++) {
      const all = this.lcSyn.estimate(v[vb + V_LCSYN + i]!, Infinity);
      const done = this.lcDone.estimate(v[vb + V_LCDONE + i]!, Infinity);
      best = Math.max(best, all - done);
    }
    return best;
  }

  private sourcesEst(s: number): number {
    // Distinct sources in the current or the last second, whichever saw more.
    const vb = this.t.valBase(s);
    return Math.max(this.lc.estimate(this.v[vb + V_LCSET]!, Infinity), this.lc.estimate(this.v[vb + V_LCSET + 1]!, Infinity));
  }

  private start(s: number, c: number, pkts: number, bytes: number, out: NoticeQueue): void {
    const v = this.v;
    const vb = this.t.valBase(s);
    const kb = vb + V_COMMON + c * K_STRIDE;
    const now = this.clock.now;
    v[kb + K_ACTIVE] = 1;
    v[kb + K_GATE_P] = 0;
    v[kb + K_GATE_B] = 0;
    v[kb + K_START] = now;
    v[kb + K_LAST_ABOVE] = now;
    // The second that crossed the threshold belongs to the flood (for SYNs: every SYN of it).
    const winP = Math.max(pkts, v[kb + K_WIN_P]!);
    const winB = Math.max(bytes, v[kb + K_WIN_B]!);
    v[kb + K_PEAK_PPS] = winP;
    v[kb + K_PEAK_BPS] = winB * 8;
    v[kb + K_PKTS] = winP;
    v[kb + K_BYTES] = winB;
    v[kb + K_NEXT_UPDATE] = now + this.cfg.update;
    v[kb + K_ID] = ++this.floodSeq;
    this.active++;
    this.started++;
    const cb = s * S_STRIDE + c * S_CLASS;
    for (let i = 0; i < HH_K; i++) this.sk[cb + i * HH_STRIDE + 5]! &= ~F_REPORTED;
    this.report(s, c, 'start', pkts, bytes * 8, out);
  }

  /** The flood's notice for `phase`; at start and update, also each newly proven heavy source's own. */
  private report(s: number, c: number, phase: FloodInfo['phase'], pps: number, bps: number, out: NoticeQueue): void {
    const v = this.v;
    const vb = this.t.valBase(s);
    const kb = vb + V_COMMON + c * K_STRIDE;
    const sk = this.sk;
    const hb = s * S_STRIDE + c * S_CLASS;
    const total = Math.max(1, sk[hb + C_HHTOT]!);
    const victim = this.victimAddr(s);
    const top: { ip: IpAddr; packets: number; share: number; proven: boolean; i: number }[] = [];
    for (let i = 0; i < HH_K; i++) {
      const n = hhCount(sk, hb, i);
      if (n <= 0) continue;
      const e = hb + i * HH_STRIDE;
      const ip = new IpAddr(victim.v6, sk[e]!, sk[e + 1]!, sk[e + 2]!, sk[e + 3]!);
      top.push({ ip, packets: n, share: Math.round((n / total) * 1000) / 1000, proven: (hhFlags(sk, hb, i) & F_PROVEN) !== 0, i });
    }
    top.sort((a, b) => b.packets - a.packets);
    const provenShare = top.filter((x) => x.proven).reduce((a, x) => a + x.packets, 0) / total;
    // For SYNs, the sources of the half-open ones: the clients that completed handshakes are no part of a flood.
    const sources = c === C_SYN ? this.halfOpenSources(s) : this.sourcesEst(s);
    const bogonShare = Math.min(1, v[vb + V_BOGON]! / total);
    const fewReal = provenShare >= REAL_SHARE;
    const spoofed = !fewReal && (sources >= SPOOF_SOURCES || bogonShare >= 0.1);
    const mitigate = !fewReal;
    v[kb + K_MITIGATE] = mitigate ? 1 : 0;
    const kind = FLOOD_KINDS[c]!;
    const [topPort, portCount] = portTop(sk, hb + C_PORTS, PORT_K);
    const port = c !== C_ICMP && c !== C_FRAG && topPort !== 0 && portCount * 2 >= sk[hb + C_PORTTOT]! ? topPort : 0;
    const now = this.clock.now;
    const id = v[kb + K_ID]!;
    const flood: FloodInfo = {
      phase,
      id,
      kind,
      victim,
      port,
      mitigate,
      pps: Math.round(pps),
      bps: Math.round(bps),
      peakPps: Math.round(v[kb + K_PEAK_PPS]!),
      peakBps: Math.round(v[kb + K_PEAK_BPS]!),
    };
    const threshold = this.thrPps[c]!;
    const baseline = v[kb + K_BASE_PPS]!;
    const evidence: Record<string, unknown> = {
      phase,
      flood_id: id,
      victim,
      victim_port: port || null,
      pps: flood.pps,
      bps: flood.bps,
      peak_pps: flood.peakPps,
      peak_bps: flood.peakBps,
      first_seen: v[kb + K_START],
      last_seen: now,
      // Until the last packet over the threshold: an end is only known a hold time later.
      duration: Math.round(((phase === 'end' ? v[kb + K_LAST_ABOVE]! : now) - v[kb + K_START]!) * 1000) / 1000,
      packets: Math.round(v[kb + K_PKTS]!),
      bytes: Math.round(v[kb + K_BYTES]!),
      threshold_pps: Math.max(threshold, this.cfg.baseline_factor * baseline),
      baseline_pps: Math.round(baseline * 100) / 100,
      sources_est: sources,
      top_sources: top.map(({ ip, packets, share, proven }) => ({ ip, packets, share, proven })),
      spoofed,
      spoof_signs: { sources_est: sources, proven_share: Math.round(provenShare * 1000) / 1000, bogon_share: Math.round(bogonShare * 1000) / 1000 },
      mitigate,
    };
    if (c === C_AMP) {
      const q = v[vb + V_AMPQ]!;
      evidence.amplification_factor = q > 0 ? Math.round((v[vb + V_AMPB]! / q) * 10) / 10 : null;
    }
    const head = top[0];
    const noBan =
      head !== undefined && head.proven
        ? null
        : spoofed
          ? `spoofed flood (~${sources} sources, none proven)`
          : head === undefined
            ? `no source sends a large share of it (~${sources} sources)`
            : 'source not proven (it never answered a SYN-ACK)';
    this.push(out, kind, c, head?.ip ?? victim, victim, port, phase, noBan, evidence, flood);
    if (phase !== 'start' && phase !== 'update') return;
    for (const x of top) {
      if (!x.proven || x.share < this.cfg.ban_share || (hhFlags(sk, hb, x.i) & F_REPORTED) !== 0) continue;
      hhSetFlag(sk, hb, x.i, F_REPORTED);
      if (phase === 'start' && x === head) continue; // the start notice bans it
      const ev = { ...evidence, phase: 'source', source: x.ip, source_packets: x.packets, source_share: x.share, proven_by: 'answered the victim\'s SYN-ACK' };
      this.push(out, kind, c, x.ip, victim, port, 'source', null, ev, { ...flood, phase: 'source' });
    }
  }

  private push(out: NoticeQueue, kind: FloodKind, c: number, src: IpAddr, victim: IpAddr, port: number, phase: FloodInfo['phase'], noBan: string | null, evidence: Record<string, unknown>, flood: FloodInfo): void {
    const now = this.clock.now;
    const sec = Math.floor(now);
    const proto = floodProto(kind, victim.v6);
    const words = phase === 'start' ? 'started' : phase === 'update' ? 'goes on' : phase === 'end' ? 'ended' : 'source';
    out.push({
      kind,
      detector: this.name,
      tsSec: sec,
      tsNsec: Math.min(999999999, Math.round((now - sec) * 1e9)),
      src,
      dst: victim,
      srcPort: 0,
      dstPort: port,
      proto,
      severity: 1,
      signatureId: SIG_FLOOD_BASE + c,
      signature: `${SIGNATURES[kind]} ${words}: ${flood.pps} pkt/s to ${victim.toString()}${port ? `:${port}` : ''}`,
      category: 'Attempted Denial of Service',
      evidence,
      flood,
      noBan,
    });
  }

  private victimAddr(s: number): IpAddr {
    const t = this.t;
    const w0 = t.keyWord(s, 0);
    const w1 = t.keyWord(s, 1);
    const w2 = t.keyWord(s, 2);
    const w3 = t.keyWord(s, 3);
    const v4 = w0 === 0 && w1 === 0 && w2 >>> 0 === 0xffff;
    return new IpAddr(!v4, w0, w1, w2, w3);
  }

  onTick(now: number, out: NoticeQueue): void {
    const bi = Math.floor(now * BUCKETS_PER_S);
    const hold = this.cfg.hold;
    this.t.forEach((s) => {
      this.advance(s, bi, out);
      const v = this.v;
      const vb = this.t.valBase(s);
      const sb = s * S_STRIDE;
      for (let c = 0; c < CLASSES; c++) {
        const kb = vb + V_COMMON + c * K_STRIDE;
        if (v[kb + K_ACTIVE] === 0) continue;
        if (now - v[kb + K_LAST_ABOVE]! >= hold) this.end(s, c, out);
        else if (now >= v[kb + K_NEXT_UPDATE]!) {
          v[kb + K_NEXT_UPDATE] = now + this.cfg.update;
          this.report(s, c, 'update', v[kb + K_WIN_P]!, v[kb + K_WIN_B]! * 8, out);
        } else this.newlyProven(s, c, out);
      }
      // The summaries follow the last seconds: counts halve, the older bitmap is cleared.
      for (let c = 0; c < CLASSES; c++) {
        const cb = sb + c * S_CLASS;
        hhDecay(this.sk, cb, HH_K);
        portDecay(this.sk, cb + C_PORTS, PORT_K);
        this.sk[cb + C_HHTOT] = this.sk[cb + C_HHTOT]! >> 1;
        this.sk[cb + C_PORTTOT] = this.sk[cb + C_PORTTOT]! >> 1;
      }
      v[vb + V_BOGON] = Math.floor(v[vb + V_BOGON]! / 2);
      const cur = v[vb + V_LCCUR]! === 0 ? 1 : 0;
      v[vb + V_LCCUR] = cur;
      v[vb + V_LCSET + cur] = 0;
      v[vb + V_LCDONE + cur] = 0;
      v[vb + V_LCSYN + cur] = 0;
      this.lc.clear(s * 2 + cur);
      this.lcDone.clear(s * 2 + cur);
      this.lcSyn.clear(s * 2 + cur);
    });
    // A victim idle this long has no flood left (each ended after `hold` without packets over).
    this.t.expire(now - this.idle);
  }

  /** A heavy source proven since the last notice gets its own (and is banned). */
  private newlyProven(s: number, c: number, out: NoticeQueue): void {
    const sb = s * S_STRIDE + c * S_CLASS;
    const total = Math.max(1, this.sk[sb + C_HHTOT]!);
    for (let i = 0; i < HH_K; i++) {
      const fl = hhFlags(this.sk, sb, i);
      if ((fl & F_PROVEN) !== 0 && (fl & F_REPORTED) === 0 && hhCount(this.sk, sb, i) / total >= this.cfg.ban_share) {
        const kb = this.t.valBase(s) + V_COMMON + c * K_STRIDE;
        this.report(s, c, 'update', this.v[kb + K_WIN_P]!, this.v[kb + K_WIN_B]! * 8, out);
        return;
      }
    }
  }

  private end(s: number, c: number, out: NoticeQueue): void {
    const kb = this.t.valBase(s) + V_COMMON + c * K_STRIDE;
    this.report(s, c, 'end', this.v[kb + K_WIN_P]!, this.v[kb + K_WIN_B]! * 8, out);
    this.v[kb + K_ACTIVE] = 0;
    this.arm(this.t.valBase(s), c);
    this.active--;
  }

  onFinish(_now: number, out: NoticeQueue): void {
    // No handshake can complete any more: judge the SYNs of the last second without a lag, then
    // end what is still going on.
    this.t.forEach((s) => {
      const k = this.v[this.t.valBase(s) + V_BI]!;
      this.judgeSyn(s, k, 0, out);
    });
    this.t.forEach((s) => {
      const kb = this.t.valBase(s) + V_COMMON;
      for (let c = 0; c < CLASSES; c++) if (this.v[kb + c * K_STRIDE + K_ACTIVE] !== 0) this.end(s, c, out);
    });
  }

  stats(): DetectorStats {
    return {
      tracked: this.t.size,
      memuse: this.t.memoryBytes + this.bk.byteLength + this.sk.byteLength + this.lc.memoryBytes + this.lcDone.memoryBytes + this.lcSyn.memoryBytes,
      evicted: this.t.evicted,
      active: this.active,
      started: this.started,
    };
  }

  clear(): void {
    this.t.clear();
    this.bk.fill(0);
    this.sk.fill(0);
    this.lc.words.fill(0);
    this.lcDone.words.fill(0);
    this.lcSyn.words.fill(0);
    this.active = 0;
  }
}

export const floodFactory: DetectorFactory<FloodConfig> = {
  name: 'flood',
  description: 'floods and DDoS per victim: SYN, ACK, RST, UDP, ICMP, fragments, reflection, amplification',
  needsFlows: true,
  create: (cfg, env) => new FloodDetector(cfg, env),
};
