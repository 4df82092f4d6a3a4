// Vertical port scans, and the two multi-source patterns built on them. Per (source, target,
// probe class) it counts the distinct destination ports probed within a window, with the failure
// evidence: resets and ICMP unreachables from the target, and probes never answered. A pair
// whose distinct ports reach the threshold, with enough of its probes failing, is a scan of the
// class's kind (syn_scan, connect_scan, fin_scan, ...). Per (target, class) it also keeps the
// sources probing the target: several sources scanning in lock-step are one `decoy_scan` (nmap
// -D), and many sources each below the threshold covering a port range is a `distributed_scan`.

import type { IpAddr } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import type { Packet } from '../core/packet.js';
import type { Detector, DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { BitSets, mix32, mixAddr, TABLE_SLACK, zero } from './distinct.js';
import { CLOSE, PC, PROBE_NAME, SCAN_KIND, SE, type ScanEvent, countFingerprint } from './probe.js';
import type { ScanFeed } from './scan-feed.js';
import { addrAt, classProto, fingerprintEvidence, keyAddr, pushReport, sortedSample } from './report.js';
import { PendingList, failedEnough, probesBy } from './pending.js';

export interface PortScanConfig {
  enabled: boolean;
  /** Distinct destination ports on one target that make a scan. */
  ports: number;
  /** Seconds of packet time the ports are counted over. */
  window: number;
  /** Fraction of the probes that must fail (reset, unreachable or unanswered). */
  failure_ratio: number;
  /** Seconds a probe may wait for its answer before it counts as unanswered. */
  response_timeout: number;
  /** (source, target, class) pairs tracked at most; the least recently active go first. */
  max_pairs: number;
  /** (target, class) records for the decoy and distributed detectors. */
  max_targets: number;
  decoy: {
    enabled: boolean;
    /** Seconds between the first probes of two sources scanning in lock-step. */
    skew: number;
    /** Fraction of the ports (and of the first ports probed) two decoys must share. */
    overlap: number;
  };
  distributed: {
    enabled: boolean;
    /** Distinct ports on one target, all sources together. */
    ports: number;
    /** Sources, each below the single-source threshold, that must take part. */
    sources: number;
    /** Distinct ports each of them must have probed (background noise probes one or two). */
    source_ports: number;
  };
}

export const SIG_PORT_SCAN = 9001000; // + class; connect_scan is +9
export const SIG_DISTRIBUTED = 9001200;
export const SIG_DECOY = 9001201;

const PORT_BITS = 512;
const PORT_SAMPLE = 16;
const SRC_SAMPLE = 16;
const SRC_BITS = 256;

// Pair record values.
const P_START = 0; // the window start (KeyTable.restartWindow)
const P_LAST = 1;
const P_PROBES = 2;
const P_PORTS = 3;
const P_ANS = 4;
const P_REJ = 5;
const P_HALF = 6;
const P_CONN = 7;
const P_FIRED = 8;
const P_PEND = 9;
const P_SPORT = 10;
const P_SPORT_SAME = 11;
const P_NSAMPLE = 12;
const P_FP = 13; // + FP_VALUES (3): the fingerprint counters, as 32-bit integers (see countFingerprint)
const P_COUNT = 16;

// Target record values.
const T_START = 0; // the window start
const T_PROBES = 1;
const T_PORTS = 2;
const T_SOURCES = 3;
const T_ANS = 4;
const T_FIRED = 5;
const T_PEND = 6;
const T_LAST = 7;
const T_NS = 8;
const T_COUNT = 9;

// Per sampled source of a target: first probe time, probes, answers.
const S_FIRST = 0;
const S_PROBES = 1;
const S_ANS = 2;
const S_PAIR = 3; // its pair slot when last seen (checked before use)
const S_VALS = 4;

export class PortScanDetector implements Detector {
  readonly name = 'port_scan';
  private readonly pairs: KeyTable;
  private readonly portBits: BitSets;
  private readonly portSample: Uint16Array;
  private readonly targets: KeyTable | null;
  private readonly tPortBits: BitSets | null;
  private readonly tSrcBits: BitSets | null;
  private readonly srcAddr: Int32Array;
  private readonly srcVals: Float64Array;
  private readonly feed: ScanFeed;
  /** The event being handled. */
  private ev: ScanEvent;
  private readonly clock: Clock;
  private readonly pairPending = new PendingList();
  private readonly targetPending = new PendingList();
  /** The target slot and sample entry of the last probe (-1: none). */
  private lastTarget = -1;
  private lastSample = -1;
  private fired = 0;

  constructor(
    private readonly cfg: PortScanConfig,
    env: DetectorEnv,
  ) {
    if (env.scans === null) throw new Error('port_scan needs scan events');
    this.feed = env.scans;
    this.ev = env.scans.events[0]!;
    this.clock = env.clock;
    this.pairs = new KeyTable(9, cfg.max_pairs, env.clock, P_COUNT, TABLE_SLACK);
    this.portBits = new BitSets(cfg.max_pairs, PORT_BITS);
    this.portSample = new Uint16Array(cfg.max_pairs * PORT_SAMPLE);
    const multi = cfg.decoy.enabled || cfg.distributed.enabled;
    const nt = multi ? cfg.max_targets : 0;
    this.targets = multi ? new KeyTable(5, nt, env.clock, T_COUNT, TABLE_SLACK) : null;
    this.tPortBits = multi ? new BitSets(nt, PORT_BITS) : null;
    this.tSrcBits = multi ? new BitSets(nt, SRC_BITS) : null;
    this.srcAddr = new Int32Array(nt * SRC_SAMPLE * 4);
    this.srcVals = new Float64Array(nt * SRC_SAMPLE * S_VALS);
  }

  onPacket(_p: Packet, _clock: Clock, out: NoticeQueue): void {
    const feed = this.feed;
    for (let i = 0; i < feed.count; i++) this.onEvent(feed.events[i]!, out);
  }

  private onEvent(ev: ScanEvent, out: NoticeQueue): void {
    this.ev = ev;
    const now = this.clock.now;
    const pairs = this.pairs;
    const k = pairs.key;
    ev.keyInitiator(k, 0);
    ev.keyTarget(k, 4);
    k[8] = ev.cls;
    if (ev.type === SE.PROBE) {
      const s = this.pairProbe();
      if (this.targets !== null) this.targetProbe(s);
      this.checkPair(s, now, out);
      return;
    }
    const s = pairs.find();
    if (s >= 0) {
      const b = pairs.valBase(s);
      const v = pairs.vals;
      if (ev.type === SE.ANSWER) v[b + P_ANS]++;
      else if (ev.type === SE.REJECT) {
        v[b + P_REJ]++;
        this.checkPair(s, now, out);
      } else if (ev.close === CLOSE.HALF_OPEN) v[b + P_HALF]++;
      else v[b + P_CONN]++;
    }
    if (this.targets !== null && ev.type === SE.ANSWER) this.targetAnswer();
  }

  /** Counts a probe in its pair record; returns the slot. */
  private pairProbe(): number {
    const ev = this.ev;
    const t = this.pairs;
    const s = t.get();
    const v = t.vals;
    const b = t.valBase(s);
    if (t.restartWindow(s, this.cfg.window, ev.time)) {
      v[b + P_SPORT] = ev.sport;
      this.portBits.clear(s);
    }
    v[b + P_LAST] = ev.time;
    v[b + P_PROBES]++;
    if (ev.sport === v[b + P_SPORT]) v[b + P_SPORT_SAME]++;
    const port = ev.port;
    if (this.portBits.add(s, mix32(port))) {
      v[b + P_PORTS]++;
      const n = v[b + P_NSAMPLE]!;
      if (n < PORT_SAMPLE) {
        this.portSample[s * PORT_SAMPLE + n] = port;
        v[b + P_NSAMPLE] = n + 1;
      }
    }
    countFingerprint(ev.fp, t.ints, (b + P_FP) * 2);
    return s;
  }

  /** Fires at once on explicit refusals; otherwise waits for the answers to come in. */
  private checkPair(s: number, now: number, out: NoticeQueue): void {
    const v = this.pairs.vals;
    const b = this.pairs.valBase(s);
    if (v[b + P_FIRED] !== 0 || v[b + P_PORTS]! < this.cfg.ports) return;
    const probes = v[b + P_PROBES]!;
    if (Math.min(v[b + P_REJ]!, probes) >= probes * this.cfg.failure_ratio) {
      this.fire(s, out);
    } else if (v[b + P_PEND] === 0) {
      v[b + P_PEND] = now;
      this.pairPending.push(s, now);
    }
  }

  /** Failure test once the answers had time to arrive: unanswered probes count as failed. */
  private failedEnough(answered: number, probes: number): boolean {
    return failedEnough(answered, probes, this.cfg.failure_ratio);
  }

  /** The target table with its scratch key set to the event's target and class. */
  private targetKeyed(): KeyTable {
    const t = this.targets!;
    this.ev.keyTarget(t.key, 0);
    t.key[4] = this.ev.cls;
    return t;
  }

  private targetProbe(pair: number): void {
    const ev = this.ev;
    const now = ev.time;
    const t = this.targetKeyed();
    const s = t.get();
    const v = t.vals;
    const b = t.valBase(s);
    if (t.restartWindow(s, this.cfg.window, now)) {
      this.tPortBits!.clear(s);
      this.tSrcBits!.clear(s);
      this.lastSample = -1;
    }
    v[b + T_PROBES]++;
    v[b + T_LAST] = now;
    if (this.tPortBits!.add(s, mix32(ev.port))) v[b + T_PORTS]++;
    // A scanner's probes of one target come in runs: its sample entry is usually the last one.
    let e = this.lastSample;
    if (e < 0 || this.lastTarget !== s || !this.isSample(e, ev)) e = this.sampleIndex(s, v[b + T_NS]!);
    // A sampled source is counted already.
    if (e < 0 && this.tSrcBits!.add(s, mixAddr(ev.i0, ev.i1, ev.i2, ev.i3))) v[b + T_SOURCES]++;
    if (e < 0 && v[b + T_NS]! < SRC_SAMPLE) {
      e = s * SRC_SAMPLE + v[b + T_NS]!;
      v[b + T_NS]++;
      const a = this.srcAddr;
      a[e * 4] = ev.i0;
      a[e * 4 + 1] = ev.i1;
      a[e * 4 + 2] = ev.i2;
      a[e * 4 + 3] = ev.i3;
      zero(this.srcVals, e * S_VALS, S_VALS);
      this.srcVals[e * S_VALS + S_FIRST] = now;
    }
    if (e >= 0) {
      this.srcVals[e * S_VALS + S_PROBES]++;
      this.srcVals[e * S_VALS + S_PAIR] = pair;
    }
    this.lastTarget = s;
    this.lastSample = e;
    const d = this.cfg.distributed;
    if (d.enabled && v[b + T_FIRED] === 0 && v[b + T_PEND] === 0 && v[b + T_SOURCES]! >= d.sources && v[b + T_PORTS]! >= d.ports) {
      // Queued at the time it is decided from (replayed probes carry older times).
      const at = this.clock.now;
      v[b + T_PEND] = at;
      this.targetPending.push(s, at);
    }
  }

  /** The sample entry of the event's initiator in target slot `s`, or -1. */
  private sampleIndex(s: number, n: number): number {
    const ev = this.ev;
    for (let i = 0; i < n; i++) if (this.isSample(s * SRC_SAMPLE + i, ev)) return s * SRC_SAMPLE + i;
    return -1;
  }

  /** True when sample entry `e` holds the event's initiator. */
  private isSample(e: number, ev: ScanEvent): boolean {
    const a = this.srcAddr;
    const o = e * 4;
    return a[o + 3] === ev.i3 && a[o] === ev.i0 && a[o + 1] === ev.i1 && a[o + 2] === ev.i2;
  }

  private targetAnswer(): void {
    const t = this.targetKeyed();
    const s = t.find();
    if (s < 0) return;
    const b = t.valBase(s);
    t.vals[b + T_ANS]++;
    const e = this.sampleIndex(s, t.vals[b + T_NS]!);
    if (e >= 0) this.srcVals[e * S_VALS + S_ANS]++;
  }

  onTick(now: number, out: NoticeQueue): void {
    this.evaluatePending(now - this.cfg.response_timeout, out);
    this.pairs.expire(now - this.cfg.window);
    this.targets?.expire(now - this.cfg.window);
  }

  onFinish(_now: number, out: NoticeQueue): void {
    this.evaluatePending(Infinity, out);
  }

  /** Decides the pairs and targets that crossed a threshold at or before `cutoff`. */
  private evaluatePending(cutoff: number, out: NoticeQueue): void {
    const pv = this.pairs.vals;
    this.pairPending.drain(cutoff, (s, at) => {
      const b = this.pairs.valBase(s);
      if (!this.pairs.isLive(s) || pv[b + P_PEND] !== at) return;
      pv[b + P_PEND] = 0;
      if (pv[b + P_FIRED] !== 0) return;
      const probes = probesBy(pv[b + P_PROBES]!, pv[b + P_START]!, pv[b + P_LAST]!, cutoff);
      if (this.failedEnough(pv[b + P_ANS]!, probes)) this.fire(s, out);
    });
    const t = this.targets;
    if (t === null) return;
    this.targetPending.drain(cutoff, (s, at) => {
      const b = t.valBase(s);
      if (!t.isLive(s) || t.vals[b + T_PEND] !== at) return;
      t.vals[b + T_PEND] = 0;
      if (t.vals[b + T_FIRED] !== 0) return;
      const probes = probesBy(t.vals[b + T_PROBES]!, t.vals[b + T_START]!, t.vals[b + T_LAST]!, cutoff);
      if (this.failedEnough(t.vals[b + T_ANS]!, probes)) this.fireDistributed(s, out);
    });
  }

  /** The pair slot of a target's sampled source `e` (class `cls`), or -1. */
  private pairOfSample(e: number, tslot: number, cls: number): number {
    const q = this.srcVals[e * S_VALS + S_PAIR]!;
    if (this.pairMatches(q, e, tslot, cls)) return q;
    const k = this.pairs.key;
    const a = this.srcAddr;
    const tk = this.targets!;
    for (let w = 0; w < 4; w++) {
      k[w] = a[e * 4 + w]!;
      k[4 + w] = tk.keyWord(tslot, w) | 0;
    }
    k[8] = cls;
    return this.pairs.find();
  }

  /** True when pair slot `q` holds sampled source `e`, the target of `tslot` and class `cls`. */
  private pairMatches(q: number, e: number, tslot: number, cls: number): boolean {
    const pairs = this.pairs;
    if (!pairs.isLive(q) || pairs.keyWord(q, 8) !== cls) return false;
    const a = this.srcAddr;
    const tk = this.targets!;
    for (let w = 0; w < 4; w++) if (pairs.keyWord(q, w) !== a[e * 4 + w]! >>> 0 || pairs.keyWord(q, 4 + w) !== tk.keyWord(tslot, w)) return false;
    return true;
  }

  /** A pair reached the threshold: report it, as one of a decoy group when it is one. */
  private fire(s: number, out: NoticeQueue): void {
    const pairs = this.pairs;
    const v = pairs.vals;
    const b = pairs.valBase(s);
    v[b + P_FIRED] = 1;
    const group = this.cfg.decoy.enabled ? this.decoyGroup(s) : null;
    if (group !== null) {
      this.fireDecoy(group, out);
      return;
    }
    this.fired++;
    const cls = pairs.keyWord(s, 8);
    let kind: string = SCAN_KIND[cls]!;
    let sid = SIG_PORT_SCAN + cls;
    if (cls === PC.SYN && this.isConnectScan(s)) {
      kind = 'connect_scan';
      sid = SIG_PORT_SCAN + 9;
    }
    const ports = v[b + P_PORTS]!;
    pushReport(out, this.clock, {
      kind,
      detector: this.name,
      src: this.pairAddr(s, 0),
      dst: this.pairAddr(s, 4),
      dstPort: 0,
      proto: classProto(cls, this.pairAddr(s, 0).v6),
      severity: 2,
      signatureId: sid,
      signature: `PALISADE ${kind.replace('_', ' ')}: ${ports} ports on one host`,
      evidence: this.pairEvidence(s),
    });
  }

  /** SYN probes: a connect() scan completes handshakes it then drops; a SYN scan resets them. */
  private isConnectScan(s: number): boolean {
    const v = this.pairs.vals;
    const b = this.pairs.valBase(s);
    const half = v[b + P_HALF]!;
    const conn = v[b + P_CONN]!;
    if (conn !== half) return conn > half;
    // No open port seen: judge by the SYNs, an operating system's connect() or a raw packet.
    return this.pairs.ints[(b + P_FP) * 2 + 3]! * 2 > v[b + P_PROBES]!;
  }

  /** The pair's initiator (`at` 0) or target (`at` 4). */
  private pairAddr(s: number, at: number): IpAddr {
    return keyAddr(this.pairs, s, at);
  }

  private pairEvidence(s: number): Record<string, unknown> {
    const v = this.pairs.vals;
    const b = this.pairs.valBase(s);
    const cls = this.pairs.keyWord(s, 8);
    const probes = v[b + P_PROBES]!;
    const answered = Math.min(v[b + P_ANS]!, probes);
    const rejected = Math.min(v[b + P_REJ]!, probes - answered);
    return {
      target: this.pairAddr(s, 4),
      probe: PROBE_NAME[cls],
      probes,
      ports: this.portBits.estimate(v[b + P_PORTS]!, probes),
      ports_sample: sortedSample(this.portSample, s * PORT_SAMPLE, v[b + P_NSAMPLE]!),
      answered,
      rejected,
      unanswered: probes - answered - rejected,
      half_open: v[b + P_HALF],
      connects: v[b + P_CONN],
      threshold: this.cfg.ports,
      window: this.cfg.window,
      first_seen: v[b + P_START],
      last_seen: v[b + P_LAST],
      ...fingerprintEvidence(this.pairs.ints, (b + P_FP) * 2, probes),
      source_port_fixed: probes >= 2 && v[b + P_SPORT_SAME]! === probes,
    };
  }

  /**
   * The decoy group of pair `s`: the other sources that probed the same target with the same
   * class, starting within `skew`, with a similar port count and the same first ports. Null when
   * there is none (a lone scanner).
   */
  private decoyGroup(s: number): number[] | null {
    const t = this.targets;
    if (t === null) return null;
    const pairs = this.pairs;
    const cls = pairs.keyWord(s, 8);
    const k = t.key;
    for (let w = 0; w < 4; w++) k[w] = pairs.keyWord(s, 4 + w) | 0;
    k[4] = cls;
    const ts = t.find();
    if (ts < 0) return null;
    const pv = pairs.vals;
    const pb = pairs.valBase(s);
    const dc = this.cfg.decoy;
    const n = t.vals[t.valBase(ts) + T_NS]!;
    const group = [s];
    for (let i = 0; i < n; i++) {
      const e = ts * SRC_SAMPLE + i;
      const q = this.pairOfSample(e, ts, cls);
      if (q < 0 || q === s) continue;
      const qb = pairs.valBase(q);
      if (pv[qb + P_FIRED] !== 0 || Math.abs(pv[qb + P_START]! - pv[pb + P_START]!) > dc.skew) continue;
      if (pv[qb + P_PORTS]! < pv[pb + P_PORTS]! * dc.overlap) continue;
      if (this.sampleOverlap(s, q) < dc.overlap) continue;
      group.push(q);
    }
    return group.length >= 2 ? group : null;
  }

  /** Fraction of pair `a`'s first ports that pair `b` also probed first. */
  private sampleOverlap(a: number, b: number): number {
    const v = this.pairs.vals;
    const na = v[this.pairs.valBase(a) + P_NSAMPLE]!;
    const nb = v[this.pairs.valBase(b) + P_NSAMPLE]!;
    if (na === 0) return 0;
    const ps = this.portSample;
    let same = 0;
    for (let i = 0; i < na; i++) {
      const port = ps[a * PORT_SAMPLE + i];
      for (let j = 0; j < nb; j++) {
        if (ps[b * PORT_SAMPLE + j] === port) {
          same++;
          break;
        }
      }
    }
    return same / na;
  }

  /**
   * Reports every source of a decoy group. The real scanner is the one whose host answered the
   * target's SYN-ACKs (its kernel resets or completes them); the others probably never saw them.
   */
  private fireDecoy(group: number[], out: NoticeQueue): void {
    const v = this.pairs.vals;
    const answeredBy = group.map((q) => v[this.pairs.valBase(q) + P_HALF]! + v[this.pairs.valBase(q) + P_CONN]! > 0);
    const anyAnswered = answeredBy.some((x) => x);
    const sources = group.map((q, i) => ({
      ip: this.pairAddr(q, 0).toString(),
      probably_spoofed: anyAnswered ? !answeredBy[i] : null,
    }));
    group.forEach((q, i) => {
      v[this.pairs.valBase(q) + P_FIRED] = 1;
      this.fired++;
      const cls = this.pairs.keyWord(q, 8);
      pushReport(out, this.clock, {
        kind: 'decoy_scan',
        detector: this.name,
        src: this.pairAddr(q, 0),
        dst: this.pairAddr(q, 4),
        dstPort: 0,
        proto: classProto(cls, this.pairAddr(q, 0).v6),
        severity: 2,
        signatureId: SIG_DECOY,
        signature: `PALISADE decoy scan: ${group.length} sources probing one host in lock-step`,
        evidence: { ...this.pairEvidence(q), sources, probably_spoofed: sources[i]!.probably_spoofed },
      });
    });
  }

  /**
   * A target covered by several sources: reports each sampled source that stayed below the
   * single-source threshold and whose probes mostly failed.
   */
  private fireDistributed(ts: number, out: NoticeQueue): void {
    const t = this.targets!;
    const tv = t.vals;
    const tb = t.valBase(ts);
    const cls = t.keyWord(ts, 4);
    const n = tv[tb + T_NS]!;
    const d = this.cfg.distributed;
    const members: number[] = [];
    let covered = 0;
    for (let i = 0; i < n; i++) {
      const e = ts * SRC_SAMPLE + i;
      const sv = this.srcVals;
      const probes = sv[e * S_VALS + S_PROBES]!;
      if (!this.failedEnough(sv[e * S_VALS + S_ANS]!, probes)) continue;
      // Each member probed a share of the ports, below the single-source threshold.
      const q = this.pairOfSample(e, ts, cls);
      if (q < 0) continue;
      const qb = this.pairs.valBase(q);
      const ports = this.pairs.vals[qb + P_PORTS]!;
      if (this.pairs.vals[qb + P_FIRED] !== 0 || ports >= this.cfg.ports || ports < d.source_ports) continue;
      members.push(e);
      covered += ports;
    }
    if (members.length < d.sources || covered < d.ports) return;
    tv[tb + T_FIRED] = 1;
    const target = keyAddr(t, ts, 0);
    const v6 = target.v6;
    const sources = members.map((e) => addrAt(v6, this.srcAddr, e * 4));
    const sourceText = sources.map((a) => a.toString());
    const evidence = {
      target: target.toString(),
      probe: PROBE_NAME[cls],
      ports: this.tPortBits!.estimate(tv[tb + T_PORTS]!, tv[tb + T_PROBES]!),
      sources: this.tSrcBits!.estimate(tv[tb + T_SOURCES]!, tv[tb + T_PROBES]!),
      scanners: sourceText,
      probes: tv[tb + T_PROBES],
      answered: Math.min(tv[tb + T_ANS]!, tv[tb + T_PROBES]!),
      threshold: this.cfg.distributed.ports,
      window: this.cfg.window,
      first_seen: tv[tb + T_START],
      last_seen: this.clock.now,
    };
    for (let i = 0; i < members.length; i++) {
      this.fired++;
      pushReport(out, this.clock, {
        kind: 'distributed_scan',
        detector: this.name,
        src: sources[i]!,
        dst: target,
        dstPort: 0,
        proto: classProto(cls, v6),
        severity: 2,
        signatureId: SIG_DISTRIBUTED,
        signature: `PALISADE distributed scan: ${members.length} sources covering ${evidence.ports} ports of one host`,
        evidence: { ...evidence, source_probes: this.srcVals[members[i]! * S_VALS + S_PROBES] },
      });
    }
  }

  stats(): DetectorStats {
    const t = this.targets;
    return {
      tracked: this.pairs.size + (t?.size ?? 0),
      memuse:
        this.pairs.memoryBytes +
        this.portBits.memoryBytes +
        this.portSample.byteLength +
        (t ? t.memoryBytes + this.tPortBits!.memoryBytes + this.tSrcBits!.memoryBytes + this.srcAddr.byteLength + this.srcVals.byteLength : 0),
      pairs: this.pairs.size,
      targets: t?.size ?? 0,
      evicted: this.pairs.evicted + (t?.evicted ?? 0),
      fired: this.fired,
    };
  }

  clear(): void {
    this.pairs.clear();
    this.targets?.clear();
    this.pairPending.clear();
    this.targetPending.clear();
  }
}

export const portScanFactory: DetectorFactory<PortScanConfig> = {
  name: 'port_scan',
  description: 'vertical port scans by probe type (syn, connect, fin, null, xmas, ack, maimon, udp), decoy and distributed scans',
  needsFlows: true,
  needsScans: true,
  create: (cfg, env) => new PortScanDetector(cfg, env),
};
