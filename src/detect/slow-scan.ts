// Slow scans: the distinct-port logic of the port scan detector over a long window (an hour by
// default, up to a day), for scanners that pace their probes under the short window's threshold.
// Distinct ports per (source, target) are counted in HyperLogLog sketches (64 bytes a pair), the
// table is sized from a memory cap and evicts the least recently active pair when full. A scan
// shorter than `min_duration` is the port scan detector's to report.

import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import type { Packet } from '../core/packet.js';
import { TableDetector } from './table-detector.js';
import type { DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { Hll, mix32, TABLE_SLACK } from './distinct.js';
import { failedEnough } from './pending.js';
import { SE, type ScanEvent } from './probe.js';
import type { ScanFeed } from './scan-feed.js';
import { classProto, keyAddr, pushReport } from './report.js';

export interface SlowScanConfig {
  enabled: boolean;
  /** Distinct ports (estimated) on one target within the window. */
  ports: number;
  window: number;
  /** A scan must span at least this long to be slow (shorter ones are port_scan's). */
  min_duration: number;
  failure_ratio: number;
  /** Bytes the detector's tables may use in total; sets how many pairs it tracks. */
  memory: number;
}

export const SIG_SLOW_SCAN = 9001300;

const V_START = 0; // the window start (KeyTable.restartWindow)
const V_LAST = 1;
const V_PROBES = 2;
const V_ANS = 3;
const V_FIRED = 4;
const V_COUNT = 5;

/** Upper bound of the bytes one tracked pair costs: record, hash index, free list, sketch. */
export const SLOW_SCAN_BYTES_PER_PAIR = 128 + 16 + 4 + 1 + Hll.BYTES_PER_KEY;

export class SlowScanDetector extends TableDetector {
  readonly name = 'slow_scan';
  private readonly hll: Hll;
  private readonly feed: ScanFeed;
  private readonly clock: Clock;

  constructor(
    private readonly cfg: SlowScanConfig,
    env: DetectorEnv,
  ) {
    const capacity = Math.max(16, Math.floor(cfg.memory / SLOW_SCAN_BYTES_PER_PAIR));
    super(new KeyTable(8, capacity, env.clock, V_COUNT, TABLE_SLACK), cfg.window);
    if (env.scans === null) throw new Error('slow_scan needs scan events');
    this.feed = env.scans;
    this.clock = env.clock;
    this.hll = new Hll(capacity);
  }

  onPacket(_p: Packet, _clock: Clock, out: NoticeQueue): void {
    const feed = this.feed;
    for (let i = 0; i < feed.count; i++) this.onEvent(feed.events[i]!, out);
  }

  private onEvent(ev: ScanEvent, out: NoticeQueue): void {
    if (ev.type !== SE.PROBE && ev.type !== SE.ANSWER) return;
    const t = this.table;
    ev.keyInitiator(t.key, 0);
    ev.keyTarget(t.key, 4);
    if (ev.type === SE.ANSWER) {
      const s = t.find();
      if (s >= 0) t.vals[t.valBase(s) + V_ANS]++;
      return;
    }
    const now = ev.time;
    const s = t.get();
    const v = t.vals;
    const b = t.valBase(s);
    if (t.restartWindow(s, this.cfg.window, now)) this.hll.clear(s);
    v[b + V_LAST] = now;
    v[b + V_PROBES]++;
    // TCP and UDP ports are different services: the class goes into the hashed value.
    if (!this.hll.add(s, mix32(ev.port | (ev.cls << 16))) || v[b + V_FIRED] !== 0) return;
    if (now - v[b + V_START]! < this.cfg.min_duration) return;
    const ports = this.hll.estimate(s);
    if (ports < this.cfg.ports || !failedEnough(v[b + V_ANS]!, v[b + V_PROBES]!, this.cfg.failure_ratio)) return;
    v[b + V_FIRED] = 1;
    this.fired++;
    const probes = v[b + V_PROBES]!;
    const duration = now - v[b + V_START]!;
    pushReport(out, this.clock, {
      kind: 'slow_scan',
      detector: this.name,
      src: keyAddr(t, s, 0),
      dst: keyAddr(t, s, 4),
      dstPort: 0,
      proto: classProto(ev.cls, ev.v6),
      severity: 3,
      signatureId: SIG_SLOW_SCAN,
      signature: `PALISADE slow scan: about ${ports} ports on one host over ${Math.round(duration)}s`,
      evidence: {
        target: keyAddr(t, s, 4).toString(),
        ports,
        probes,
        answered: Math.min(v[b + V_ANS]!, probes),
        probes_per_minute: Math.round((probes / Math.max(duration, 1)) * 600) / 10,
        threshold: this.cfg.ports,
        window: this.cfg.window,
        first_seen: v[b + V_START],
        last_seen: now,
      },
    });
  }

  override stats(): DetectorStats {
    const s = super.stats();
    return { ...s, memuse: s.memuse + this.hll.memoryBytes, memcap: this.cfg.memory };
  }
}

export const slowScanFactory: DetectorFactory<SlowScanConfig> = {
  name: 'slow_scan',
  description: 'slow port scans over long windows, counted in HyperLogLog sketches under a memory cap',
  needsFlows: true,
  needsScans: true,
  create: (cfg, env) => new SlowScanDetector(cfg, env),
};
