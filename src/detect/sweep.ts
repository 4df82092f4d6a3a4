// Horizontal sweeps: one source probing the same port (and probe class) across many hosts, as in
// ICMP echo sweeps, TCP SYN/ACK ping sweeps and zmap-style internet scans. Per (source, port,
// class) it counts the distinct hosts probed within a window; enough hosts with enough of the
// probes failing (unanswered, reset or unreachable) is a `sweep`. Busy clients talk to many
// hosts too, but their connections are answered.

import type { CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import type { Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';
import type { Detector, DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { BitSets, mixAddr, TABLE_SLACK } from './distinct.js';
import { PendingList, failedEnough, probesBy } from './pending.js';
import { PC, PROBE_NAME, SE, ScanEvent, countFingerprint } from './probe.js';
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
const V_FP = 9; // + 4
const V_COUNT = 13;

export class SweepDetector implements Detector {
  readonly name = 'sweep';
  private readonly table: KeyTable;
  private readonly hostBits: BitSets;
  private readonly hostSample: Int32Array;
  private readonly ev = new ScanEvent();
  private readonly flows: FlowTable;
  private readonly homeNet: CidrSet | null;
  private readonly clock: Clock;
  private readonly pending = new PendingList();
  private fired = 0;

  constructor(
    private readonly cfg: SweepConfig,
    env: DetectorEnv,
  ) {
    if (env.flows === null) throw new Error('sweep needs flow tracking');
    this.flows = env.flows;
    this.homeNet = env.homeNet;
    this.clock = env.clock;
    this.table = new KeyTable(6, cfg.max_sources, env.clock, V_COUNT, TABLE_SLACK);
    this.hostBits = new BitSets(cfg.max_sources, HOST_BITS);
    this.hostSample = new Int32Array(cfg.max_sources * HOST_SAMPLE * 4);
  }

  onPacket(p: Packet, clock: Clock, _out: NoticeQueue): void {
    const ev = this.ev;
    if (!ev.read(p, this.flows, this.homeNet) || ev.type === SE.CLOSE) return;
    const t = this.table;
    const k = t.key;
    ev.keyInitiator(k, 0);
    k[4] = ev.port;
    k[5] = ev.cls;
    const now = clock.now;
    if (ev.type !== SE.PROBE) {
      const s = t.find();
      if (s < 0) return;
      const b = t.valBase(s);
      if (ev.type === SE.ANSWER) t.vals[b + V_ANS]++;
      else t.vals[b + V_REJ]++;
      return;
    }
    const s = t.get();
    const v = t.vals;
    const b = t.valBase(s);
    if (t.restartWindow(s, this.cfg.window)) this.hostBits.clear(s);
    v[b + V_LAST] = now;
    v[b + V_PROBES]++;
    if (this.hostBits.add(s, mixAddr(ev.t0, ev.t1, ev.t2, ev.t3))) {
      v[b + V_HOSTS]++;
      const n = v[b + V_NSAMPLE]!;
      if (n < HOST_SAMPLE) {
        const o = (s * HOST_SAMPLE + n) * 4;
        const hs = this.hostSample;
        hs[o] = ev.t0;
        hs[o + 1] = ev.t1;
        hs[o + 2] = ev.t2;
        hs[o + 3] = ev.t3;
        v[b + V_NSAMPLE] = n + 1;
      }
    }
    countFingerprint(p, v, b + V_FP);
    if (v[b + V_FIRED] === 0 && v[b + V_PEND] === 0 && v[b + V_HOSTS]! >= this.cfg.hosts) {
      v[b + V_PEND] = now;
      this.pending.push(s, now);
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
        ...fingerprintEvidence(v, b + V_FP, probes),
      },
    });
  }

  stats(): DetectorStats {
    return {
      tracked: this.table.size,
      memuse: this.table.memoryBytes + this.hostBits.memoryBytes + this.hostSample.byteLength,
      evicted: this.table.evicted,
      fired: this.fired,
    };
  }

  clear(): void {
    this.table.clear();
    this.pending.clear();
  }
}

export const sweepFactory: DetectorFactory<SweepConfig> = {
  name: 'sweep',
  description: 'horizontal sweeps: one source probing a port (or ICMP echo) across many hosts',
  needsFlows: true,
  create: (cfg, env) => new SweepDetector(cfg, env),
};
