// Horizontal sweeps: one source probing the same port (and probe class) across many hosts, as in
// ICMP echo sweeps, TCP SYN/ACK ping sweeps and zmap-style internet scans. Per (source, port,
// class) it counts the distinct hosts probed within a window; enough hosts with enough of the
// probes failing (unanswered, reset or unreachable) is a `sweep`. Busy clients talk to many
// hosts too, but their connections are answered.

import type { Clock } from '../core/clock.js';
import { KeyTable, prefault } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import type { Packet } from '../core/packet.js';
import type { Detector, DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { BitSets, mix32, mixAddr, TABLE_SLACK } from './distinct.js';
import { PendingList, failedEnough, probesBy } from './pending.js';
import { PC, PROBE_NAME, SE, type ScanEvent, countFingerprint } from './probe.js';
import type { ScanFeed } from './scan-feed.js';
import { addrAt, classProto, fingerprintEvidence, keyAddr, pushReport } from './report.js';

export interface SweepConfig {
  enabled: boolean;
  /** Distinct hosts probed on one port that make a sweep. */
  hosts: number;
  window: number;
  failure_ratio: number;
  response_timeout: number;
  /** (source, port, class) records tracked at most. */
  max_sources: number;
}

export const SIG_SWEEP = 9001100; // + class

const HOST_BITS = 512;
const HOST_SAMPLE = 8;

const V_START = 0; // the window start (KeyTable.restartWindow)
const V_LAST = 1;
const V_PROBES = 2;
const V_HOSTS = 3;
const V_ANS = 4;
const V_REJ = 5;
const V_FIRED = 6;
const V_PEND = 7;
const V_NSAMPLE = 8;
const V_FP = 9; // + FP_VALUES (3): the fingerprint counters, as 32-bit integers (see countFingerprint)
const V_COUNT = 12;

export class SweepDetector implements Detector {
  readonly name = 'sweep';
  private readonly table: KeyTable;
  private readonly hostBits: BitSets;
  private readonly hostSample: Int32Array;
  private readonly feed: ScanFeed;
  private readonly clock: Clock;
  private readonly pending = new PendingList();
  private readonly door: Door;
  private fired = 0;

  constructor(
    private readonly cfg: SweepConfig,
    env: DetectorEnv,
  ) {
    if (env.scans === null) throw new Error('sweep needs scan events');
    this.feed = env.scans;
    this.clock = env.clock;
    this.table = new KeyTable(6, cfg.max_sources, env.clock, V_COUNT, TABLE_SLACK);
    this.hostBits = new BitSets(cfg.max_sources, HOST_BITS);
    this.hostSample = new Int32Array(cfg.max_sources * HOST_SAMPLE * 4);
    this.door = new Door(Math.min(cfg.max_sources, DOOR_MAX));
  }

  onPacket(_p: Packet, _clock: Clock, _out: NoticeQueue): void {
    const feed = this.feed;
    for (let i = 0; i < feed.count; i++) this.onEvent(feed.events[i]!);
  }

  private onEvent(ev: ScanEvent): void {
    if (ev.type === SE.CLOSE) return;
    const t = this.table;
    const k = t.key;
    ev.keyInitiator(k, 0);
    k[4] = ev.port;
    k[5] = ev.cls;
    let s = t.find();
    if (ev.type !== SE.PROBE) {
      if (s >= 0) t.vals[t.valBase(s) + (ev.type === SE.ANSWER ? V_ANS : V_REJ)]++;
      else this.door.outcome(ev);
      return;
    }
    let fresh = false;
    if (s >= 0) t.use(s);
    else {
      // Most (source, port) keys see one host (a vertical scan's every port): they wait at the
      // door, and get a record when a second host is probed.
      const d = this.door.admit(ev, this.cfg.window);
      if (d < 0) return;
      s = t.get();
      this.startRecord(s, this.door.time(d));
      this.door.moveTo(d, t, s);
      this.addHost(s, this.door.hostOf(d));
      this.door.release(d);
      fresh = true;
    }
    const v = t.vals;
    const b = t.valBase(s);
    const now = ev.time;
    if (!fresh && t.restartWindow(s, this.cfg.window, now)) this.hostBits.clear(s);
    v[b + V_LAST] = now;
    v[b + V_PROBES]++;
    this.addHost(s, ev);
    countFingerprint(ev.fp, t.ints, (b + V_FP) * 2);
    if (v[b + V_FIRED] === 0 && v[b + V_PEND] === 0 && v[b + V_HOSTS]! >= this.cfg.hosts) {
      // Queued at the time it is decided from (replayed probes carry older times).
      const at = this.clock.now;
      v[b + V_PEND] = at;
      this.pending.push(s, at);
    }
  }

  /** A record just created for a key coming in from the door: its window starts at the door. */
  private startRecord(s: number, start: number): void {
    this.table.restartWindow(s, this.cfg.window, start);
    this.hostBits.clear(s);
  }

  /** Counts host `h` (target words t0..t3) in record `s`, and samples it when new. */
  private addHost(s: number, h: { t0: number; t1: number; t2: number; t3: number }): void {
    if (!this.hostBits.add(s, mixAddr(h.t0, h.t1, h.t2, h.t3))) return;
    const v = this.table.vals;
    const b = this.table.valBase(s);
    v[b + V_HOSTS]++;
    const n = v[b + V_NSAMPLE]!;
    if (n < HOST_SAMPLE) {
      const o = (s * HOST_SAMPLE + n) * 4;
      const hs = this.hostSample;
      hs[o] = h.t0;
      hs[o + 1] = h.t1;
      hs[o + 2] = h.t2;
      hs[o + 3] = h.t3;
      v[b + V_NSAMPLE] = n + 1;
    }
  }

  onTick(now: number, out: NoticeQueue): void {
    this.evaluate(now - this.cfg.response_timeout, out);
    this.table.expire(now - this.cfg.window);
  }

  onFinish(_now: number, out: NoticeQueue): void {
    this.evaluate(Infinity, out);
  }

  private evaluate(cutoff: number, out: NoticeQueue): void {
    const t = this.table;
    const v = t.vals;
    this.pending.drain(cutoff, (s, at) => {
      const b = t.valBase(s);
      if (!t.isLive(s) || v[b + V_PEND] !== at) return;
      v[b + V_PEND] = 0;
      if (v[b + V_FIRED] !== 0) return;
      const probes = probesBy(v[b + V_PROBES]!, v[b + V_START]!, v[b + V_LAST]!, cutoff);
      if (failedEnough(v[b + V_ANS]!, probes, this.cfg.failure_ratio)) this.fire(s, out);
    });
  }

  private fire(s: number, out: NoticeQueue): void {
    const t = this.table;
    const v = t.vals;
    const b = t.valBase(s);
    v[b + V_FIRED] = 1;
    this.fired++;
    const src = keyAddr(t, s, 0);
    const probes = v[b + V_PROBES]!;
    const v6 = src.v6;
    const port = t.keyWord(s, 4);
    const cls = t.keyWord(s, 5);
    const hosts = this.hostBits.estimate(v[b + V_HOSTS]!, probes);
    const sample: string[] = [];
    for (let i = 0; i < v[b + V_NSAMPLE]!; i++) sample.push(addrAt(v6, this.hostSample, (s * HOST_SAMPLE + i) * 4).toString());
    const answered = Math.min(v[b + V_ANS]!, probes);
    const rejected = Math.min(v[b + V_REJ]!, probes - answered);
    pushReport(out, this.clock, {
      kind: 'sweep',
      detector: this.name,
      src,
      dst: null,
      dstPort: cls === PC.ICMP ? 0 : port,
      proto: classProto(cls, v6),
      severity: 2,
      signatureId: SIG_SWEEP + cls,
      signature: `PALISADE ${PROBE_NAME[cls]} sweep: ${hosts} hosts probed${cls === PC.ICMP ? '' : ` on port ${port}`}`,
      evidence: {
        probe: PROBE_NAME[cls],
        port: cls === PC.ICMP ? null : port,
        hosts,
        hosts_sample: sample,
        probes,
        answered,
        rejected,
        unanswered: probes - answered - rejected,
        threshold: this.cfg.hosts,
        window: this.cfg.window,
        first_seen: v[b + V_START],
        last_seen: v[b + V_LAST],
        ...fingerprintEvidence(this.table.ints, (b + V_FP) * 2, probes),
      },
    });
  }

  stats(): DetectorStats {
    return {
      tracked: this.table.size,
      memuse: this.table.memoryBytes + this.hostBits.memoryBytes + this.hostSample.byteLength + this.door.memoryBytes,
      evicted: this.table.evicted,
      fired: this.fired,
    };
  }

  clear(): void {
    this.table.clear();
    this.door.clear();
    this.pending.clear();
  }
}

// Door entry words: key (source 4, port, class + 1; 0 is empty), first host (4), probes,
// answers, rejects, fingerprint bits (OR), the first probe's time (f64 at words 14-15).
const D_WORDS = 16;
/** Door entries at most: 256 KiB, small enough to stay in a core's cache. */
const DOOR_MAX = 4096;
const D_CLS = 5;
const D_HOST = 6;
const D_PROBES = 10;
const D_ANS = 11;
const D_REJ = 12;
const D_FP = 13;

/**
 * A direct-mapped cache of keys seen with one host so far: the first host, its probes and their
 * outcomes. A key whose entry is taken by another is forgotten (it had one host).
 */
class Door {
  private readonly w: Int32Array;
  private readonly f: Float64Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let n = 16;
    while (n < capacity) n *= 2;
    this.mask = n - 1;
    const buf = new ArrayBuffer(n * D_WORDS * 4);
    this.w = prefault(new Int32Array(buf));
    this.f = new Float64Array(buf);
  }

  get memoryBytes(): number {
    return this.w.byteLength;
  }

  /** The entry of the event's key, or -1 when another key (or none) holds its place. */
  private find(ev: ScanEvent): number {
    const d = mix32(mixAddr(ev.i0, ev.i1, ev.i2, ev.i3) ^ (ev.port | (ev.cls << 16))) & this.mask;
    const w = this.w;
    const o = d * D_WORDS;
    if (w[o + D_CLS] !== ev.cls + 1 || w[o + 4] !== ev.port || w[o] !== ev.i0 || w[o + 1] !== ev.i1 || w[o + 2] !== ev.i2 || w[o + 3] !== ev.i3) {
      return -1 - d;
    }
    return d;
  }

  private sameHost(o: number, ev: ScanEvent): boolean {
    const w = this.w;
    return w[o + D_HOST] === ev.t0 && w[o + D_HOST + 1] === ev.t1 && w[o + D_HOST + 2] === ev.t2 && w[o + D_HOST + 3] === ev.t3;
  }

  /**
   * A probe of a key without a record. Returns the key's entry when this probe is its second host
   * within `window` (the caller then gives it a record), else -1 (the probe is kept here).
   */
  admit(ev: ScanEvent, window: number): number {
    const found = this.find(ev);
    const d = found >= 0 ? found : -1 - found;
    const o = d * D_WORDS;
    const w = this.w;
    if (found >= 0 && ev.time - this.f[(o >> 1) + 7]! <= window) {
      if (!this.sameHost(o, ev)) return d;
      w[o + D_PROBES]++;
      w[o + D_FP] |= ev.fp;
      return -1;
    }
    w[o] = ev.i0;
    w[o + 1] = ev.i1;
    w[o + 2] = ev.i2;
    w[o + 3] = ev.i3;
    w[o + 4] = ev.port;
    w[o + D_CLS] = ev.cls + 1;
    w[o + D_HOST] = ev.t0;
    w[o + D_HOST + 1] = ev.t1;
    w[o + D_HOST + 2] = ev.t2;
    w[o + D_HOST + 3] = ev.t3;
    w[o + D_PROBES] = 1;
    w[o + D_ANS] = 0;
    w[o + D_REJ] = 0;
    w[o + D_FP] = ev.fp;
    this.f[(o >> 1) + 7] = ev.time;
    return -1;
  }

  /** An answer or reject for a key without a record: counted if its probe waits here. */
  outcome(ev: ScanEvent): void {
    const d = this.find(ev);
    if (d < 0 || !this.sameHost(d * D_WORDS, ev)) return;
    this.w[d * D_WORDS + (ev.type === SE.ANSWER ? D_ANS : D_REJ)]++;
  }

  time(d: number): number {
    return this.f[d * (D_WORDS >> 1) + 7]!;
  }

  /** The entry's first host, as target words. */
  hostOf(d: number): { t0: number; t1: number; t2: number; t3: number } {
    const w = this.w;
    const o = d * D_WORDS + D_HOST;
    const h = this.host;
    h.t0 = w[o]!;
    h.t1 = w[o + 1]!;
    h.t2 = w[o + 2]!;
    h.t3 = w[o + 3]!;
    return h;
  }

  private readonly host = { t0: 0, t1: 0, t2: 0, t3: 0 };

  /** Adds the entry's counts to a new sweep record: slot `s` of `t`. */
  moveTo(d: number, t: KeyTable, s: number): void {
    const v = t.vals;
    const b = t.valBase(s);
    const w = this.w;
    const o = d * D_WORDS;
    const probes = w[o + D_PROBES]!;
    v[b + V_LAST] = this.time(d);
    v[b + V_PROBES] += probes;
    v[b + V_ANS] += w[o + D_ANS]!;
    v[b + V_REJ] += w[o + D_REJ]!;
    const fp = w[o + D_FP]!;
    countFingerprint(fp, t.ints, (b + V_FP) * 2, probes);
  }

  release(d: number): void {
    this.w[d * D_WORDS + D_CLS] = 0;
  }

  clear(): void {
    this.w.fill(0);
  }
}

export const sweepFactory: DetectorFactory<SweepConfig> = {
  name: 'sweep',
  description: 'horizontal sweeps: one source probing a port (or ICMP echo) across many hosts',
  needsFlows: true,
  needsScans: true,
  create: (cfg, env) => new SweepDetector(cfg, env),
};
