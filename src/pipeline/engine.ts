// The engine: the one place where the stages meet. For each packet a source delivers it runs
// decode -> track -> detect, then sends any notices through decide -> output. Time is the packet
// clock; once per second of packet time it ticks (detectors expire state, flows time out) and
// every `stats.interval` it emits a stats event. Stage timings are sampled, 1 packet in 128.

import type { PacketSource, CaptureStats } from '../capture/source.js';
import { emptyCaptureStats } from '../capture/source.js';
import type { Config } from '../config/schema.js';
import { CidrSet } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import { PacketClock } from '../core/clock.js';
import { nest } from '../core/counters.js';
import { NoticeQueue, type Decision, type Lift, type Notice } from '../core/notice.js';
import { Packet, PF } from '../core/packet.js';
import { Decoder } from '../decode/decoder.js';
import { Defrag } from '../defrag/defrag.js';
import { Policy, policyConfig } from '../decide/policy.js';
import type { Detector } from '../detect/detector.js';
import { createDetectors, createScanFeed, detectorsNeedingFlows, detectorsReadingScans } from '../detect/registry.js';
import type { ScanFeed } from '../detect/scan-feed.js';
import { LogBruteforce } from '../detect/log-bruteforce.js';
import type { LogEvent } from '../core/log-event.js';
import { FlowTable } from '../flow/flow-table.js';
import { floodEventOf } from '../output/eve.js';
import type { Outputs } from '../output/outputs.js';

const SAMPLE_EVERY = 128;
const TICK = 1;

/**
 * The cost of one performance.now() call (ms), subtracted from stage samples: the least of
 * several rounds, once the calls are warm (the first rounds run in the interpreter).
 */
function timerCost(): number {
  let best = Infinity;
  for (let round = 0; round < 8; round++) {
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) performance.now();
    best = Math.min(best, (performance.now() - t0) / n);
  }
  return best;
}
let timerMs = -1;

export interface EngineOptions {
  /** Where events go; null to collect decisions only (through onDecision). */
  outputs: Outputs | null;
  /** Called for every decision, whatever its action (summaries, tests). */
  onDecision?: (d: Decision) => void;
  /** Called for every ban lifted by the policy (expired, superseded): enforce and state. */
  onLift?: (l: Lift) => void;
  /** Called for every packet after detection (honeypot replies); null: none. */
  responder?: { onPacket(p: Packet, clock: PacketClock): void } | null;
  /** Called for every flood notice (start, update, end, source): the daemon's mitigation. */
  onFlood?: (n: Notice) => void;
  /** Further sections for the stats event (enforce, state). */
  extraStats?: () => Record<string, unknown>;
  /**
   * True when a ban's alert waits for its firewall result (the daemon writes it once the kernel
   * has the element, or the change failed), so an alert never claims a block that is not there.
   */
  deferBanAlerts?: boolean;
}

export class Engine {
  readonly packet = new Packet();
  readonly clock = new PacketClock();
  readonly decoder = new Decoder();
  /** The track stage; null when no enabled detector reads flows (flow.tracking: auto) or off. */
  readonly flows: FlowTable | null;
  /** The scan events of each packet (read once, prefiltered per source); null when unread. */
  readonly scans: ScanFeed | null;
  readonly detectors: Detector[];
  /**
   * Detectors called for every packet: the first four each from a call site of its own (one class
   * there, so V8 inlines its early return; a shared site sees several classes and calls), the
   * rest from a loop. Then those called only for packets with scan events.
   */
  private readonly pd0: Detector | null;
  private readonly pd1: Detector | null;
  private readonly pd2: Detector | null;
  private readonly pd3: Detector | null;
  private readonly packetDetectors: Detector[];
  private readonly scanDetectors: Detector[];
  /** The flood detector (called for every packet, from its own call site), or null when off. */
  private readonly flood: Detector | null;
  /** Detectors that count fragments before reassembly. */
  private readonly fragDetectors: Detector[];
  /** The defrag stage; null when off (fragments then reach the detectors as they are). */
  readonly defrag: Defrag | null;
  /** Brute force from log lines (logEvent); null when the brute-force detector is off. */
  readonly logs: LogBruteforce | null;
  readonly policy: Policy;
  readonly outputs: Outputs | null;
  private readonly notices = new NoticeQueue();
  private readonly onDecision: ((d: Decision) => void) | undefined;
  private readonly onLift: ((l: Lift) => void) | undefined;
  private readonly onFlood: ((n: Notice) => void) | undefined;
  private readonly extraStats: (() => Record<string, unknown>) | undefined;
  private readonly responder: { onPacket(p: Packet, clock: PacketClock): void } | null;
  private readonly deferBanAlerts: boolean;
  private readonly statsInterval: number;
  private nextTick = 0;
  private nextStats = 0;
  private sampleIn = SAMPLE_EVERY;
  noticeCount = 0;
  /** Sampled stage timings: samples, then total ms in decode, track, detect. */
  private readonly perf = new Float64Array(4);
  private outputMs = 0;
  /** The source being read, and the summed stats of those already finished. */
  private source: PacketSource | null = null;
  private readonly finished: CaptureStats = emptyCaptureStats();

  constructor(
    readonly config: Config,
    opts: EngineOptions,
  ) {
    if (timerMs < 0) timerMs = timerCost();
    this.outputs = opts.outputs;
    this.onDecision = opts.onDecision;
    this.onLift = opts.onLift;
    this.onFlood = opts.onFlood;
    this.extraStats = opts.extraStats;
    this.responder = opts.responder ?? null;
    this.deferBanAlerts = opts.deferBanAlerts ?? false;
    this.statsInterval = config.stats.interval;
    const needing = detectorsNeedingFlows(config.detect);
    if (config.flow.tracking === 'off' && needing.length > 0) {
      throw new PalisadeError(
        'PAL_ERR_CONFIG_INVALID',
        `flow.tracking is off, but these enabled detectors need flow state: ${needing.join(', ')} (disable them or set flow.tracking to auto)`,
      );
    }
    const track = config.flow.tracking === 'on' || (config.flow.tracking === 'auto' && needing.length > 0);
    this.flows = track
      ? new FlowTable({ timeout: config.flow.timeout, closedTimeout: config.flow.closed_timeout, maxFlows: config.flow.max_flows }, this.clock)
      : null;
    const homeNet = config.home_net.length > 0 ? CidrSet.parse(config.home_net) : null;
    this.scans = createScanFeed(config.detect, config.detect.prefilter, this.clock, this.flows, homeNet);
    this.detectors = createDetectors(config.detect, { clock: this.clock, flows: this.flows, homeNet, scans: this.scans });
    const readers = detectorsReadingScans(config.detect);
    this.flood = this.detectors.find((d) => d.name === 'flood') ?? null;
    const every = this.detectors.filter((d) => !readers.includes(d.name) && d !== this.flood);
    [this.pd0, this.pd1, this.pd2, this.pd3] = [every[0] ?? null, every[1] ?? null, every[2] ?? null, every[3] ?? null];
    this.packetDetectors = every.slice(4);
    this.scanDetectors = this.detectors.filter((d) => readers.includes(d.name));
    this.fragDetectors = this.detectors.filter((d) => d.onFragment !== undefined);
    const df = config.defrag;
    this.defrag = df.enabled
      ? new Defrag(this.decoder, { timeout: df.timeout, memcap: df.memcap, max_trackers: df.max_trackers, max_frags: df.max_frags, policy: df.policy, policies: df.policies })
      : null;
    this.logs = config.detect.bruteforce.enabled ? new LogBruteforce(config.detect.bruteforce, this.clock) : null;
    this.policy = new Policy(policyConfig(config));
  }

  /**
   * A parsed log line (the log sources' entry point): its time is the clock's, as a packet's is,
   * and its verdicts go through the same policy.
   */
  logEvent(ev: LogEvent): void {
    this.clock.advance(ev.sec, ev.nsec);
    this.logs?.onLogEvent(ev, this.notices);
    if (this.notices.length !== 0 || this.clock.now >= this.nextTick) this.afterPacket();
  }

  /**
   * The per-packet entry point, handed to sources: processes `this.packet`. One call site per
   * stage (a second, timed copy of the pipeline would eat V8's inlining budget); 1 packet in 128
   * also reads the time between stages.
   */
  readonly process = (): void => {
    const p = this.packet;
    const clock = this.clock;
    clock.advance(p.tsSec, p.tsNsec);
    const timed = --this.sampleIn === 0;
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    if (timed) t0 = performance.now();
    this.decoder.decode(p);
    if ((p.flags & PF.FRAG) !== 0 && this.defrag !== null && !this.reassemble(p)) {
      // A fragment held (or dropped) for its datagram: nothing more to see until it completes.
      if (timed) this.sampleIn = SAMPLE_EVERY;
      if (this.notices.length !== 0 || clock.now >= this.nextTick) this.afterPacket();
      return;
    }
    if (timed) t1 = performance.now();
    if (this.flows !== null) this.flows.update(p);
    if (timed) t2 = performance.now();
    const d0 = this.pd0;
    if (d0 !== null) {
      d0.onPacket(p, clock, this.notices);
      const d1 = this.pd1;
      if (d1 !== null) {
        d1.onPacket(p, clock, this.notices);
        const d2 = this.pd2;
        if (d2 !== null) {
          d2.onPacket(p, clock, this.notices);
          const d3 = this.pd3;
          if (d3 !== null) {
            d3.onPacket(p, clock, this.notices);
            const ds = this.packetDetectors;
            for (let i = 0; i < ds.length; i++) ds[i]!.onPacket(p, clock, this.notices);
          }
        }
      }
    }
    // A call site of its own: always the same class there, so V8 inlines its early return.
    const fl = this.flood;
    if (fl !== null) fl.onPacket(p, clock, this.notices);
    const scans = this.scans;
    if (scans !== null) {
      scans.update(p);
      if (scans.count !== 0) {
        const ss = this.scanDetectors;
        for (let i = 0; i < ss.length; i++) ss[i]!.onPacket(p, clock, this.notices);
      }
    }
    if (this.responder !== null) this.responder.onPacket(p, clock);
    if (timed) this.recordTiming(t0, t1, t2);
    if (this.notices.length !== 0 || clock.now >= this.nextTick) this.afterPacket();
  };

  /**
   * IP reassembly: the fragment goes to the detectors that count fragments, then to defrag.
   * True when it completed its datagram, which `p` now holds (re-decoded).
   */
  private reassemble(p: Packet): boolean {
    const fd = this.fragDetectors;
    for (let i = 0; i < fd.length; i++) fd[i]!.onFragment!(p, this.clock, this.notices);
    return this.defrag!.push(p, this.clock.now);
  }

  private recordTiming(t0: number, t1: number, t2: number): void {
    const t3 = performance.now();
    this.sampleIn = SAMPLE_EVERY;
    const perf = this.perf;
    perf[0]++;
    perf[1] += t1 - t0;
    perf[2] += t2 - t1;
    perf[3] += t3 - t2;
  }

  /** The rare work after a packet: decide on notices, and the once-a-second tick. */
  private afterPacket(): void {
    const now = this.clock.now;
    if (this.notices.length !== 0) this.handleNotices(now);
    if (now >= this.nextTick) this.tick(now);
  }

  /** Called by sources between batches: pushes buffered events out. */
  readonly onChunk = (): void => {
    this.outputs?.flush();
  };

  private handleNotices(now: number): void {
    const t0 = performance.now();
    for (const n of this.notices.drain()) {
      this.noticeCount++;
      if (n.flood !== undefined) {
        // A flood's lifecycle: an EVE flood event and the daemon's mitigation; only its start and
        // its proven sources are alerts (and bans) through the policy.
        const e = floodEventOf(n);
        if (e !== null) this.outputs?.flood(e);
        this.onFlood?.(n);
        if (n.flood.phase === 'update' || n.flood.phase === 'end') continue;
      }
      const d = this.policy.decide(n, now);
      if (d.action !== 'ignore' && !(d.ban !== null && this.deferBanAlerts)) this.outputs?.alert(d);
      this.onDecision?.(d);
    }
    this.passLifts();
    this.outputMs += performance.now() - t0;
  }

  private tick(now: number): void {
    if (this.nextTick === 0) {
      // First packet: schedule from here.
      this.nextTick = now + TICK;
      this.nextStats = now + this.statsInterval;
      return;
    }
    this.nextTick = now + TICK;
    this.scans?.onTick(now);
    this.defrag?.tick(now);
    this.logs?.onTick(now);
    for (const d of this.detectors) d.onTick(now, this.notices);
    if (this.notices.length !== 0) this.handleNotices(now);
    this.flows?.expire(now);
    this.policy.expire(now);
    this.passLifts();
    if (now >= this.nextStats) {
      this.nextStats = now + this.statsInterval;
      this.emitStats();
    }
  }

  private passLifts(): void {
    const lifts = this.policy.takeLifts();
    if (this.onLift) for (const l of lifts) this.onLift(l);
  }

  /**
   * Moves the clock forward without a packet (live capture when the link is quiet), so that
   * state still expires and stats still go out. `sec` is wall time, which live packets share.
   */
  idle(sec: number, nsec: number): void {
    this.clock.advance(sec, nsec);
    if (this.clock.now >= this.nextTick && this.nextTick !== 0) this.tick(this.clock.now);
  }

  /** Sets the source whose counters the stats report; call before running it. */
  attach(source: PacketSource): void {
    this.source = source;
  }

  /** Adds a finished source's counters to the totals. */
  detach(source: PacketSource): void {
    const s = source.stats();
    const f = this.finished;
    for (const k of Object.keys(f) as (keyof CaptureStats)[]) f[k] += s[k];
    if (this.source === source) this.source = null;
  }

  captureStats(): CaptureStats {
    const total = { ...this.finished };
    if (this.source) {
      const s = this.source.stats();
      for (const k of Object.keys(total) as (keyof CaptureStats)[]) total[k] += s[k];
    }
    return total;
  }

  /** The stats event's `capture` section. */
  captureSection(): Record<string, number> {
    const cap = this.captureStats();
    return {
      packets: cap.packets,
      kernel_packets: cap.kernelPackets,
      kernel_drops: cap.kernelDrops,
      kernel_ifdrops: cap.kernelIfDrops,
      ring_drops: cap.ringDrops,
      truncated_records: cap.truncatedRecords,
      skipped_records: cap.skippedRecords,
      bad_timestamps: cap.badTimestamps,
      out_of_order: this.clock.backwards,
    };
  }

  /** The stats event body (Suricata-like nesting). */
  buildStats(): Record<string, unknown> {
    const perf = this.perf;
    const n = perf[0]!;
    // Each stage sample spans one performance.now() call: take its cost off.
    const ns = (ms: number): number => (n === 0 ? 0 : Math.max(0, Math.round((ms * 1e6) / n - timerMs * 1e6)));
    const detectors: Record<string, unknown> = {};
    let detectMem = 0;
    for (const d of this.detectors) {
      const s = d.stats();
      detectors[d.name] = s;
      detectMem += s.memuse;
    }
    return {
      uptime: Math.round(this.clock.elapsed * 1000) / 1000,
      capture: this.captureSection(),
      decoder: { ...this.decoder.stats.counters.toFlat(), event: nest(this.decoder.stats.eventCounts()).decoder ?? {} },
      ...(this.defrag ? { defrag: this.defrag.stats() } : {}),
      ...(this.flows ? { flow: this.flows.stats() } : {}),
      detect: {
        notices: this.noticeCount,
        alerts: this.policy.alerts,
        bans: this.policy.banned,
        memuse: detectMem + (this.scans?.stats().memuse ?? 0),
        ...(this.scans ? { prefilter: this.scans.stats() } : {}),
        detectors,
      },
      decide: this.policy.stats(),
      ...this.extraStats?.(),
      perf: {
        sampled_pkts: n,
        decode_ns: ns(perf[1]!),
        track_ns: ns(perf[2]!),
        detect_ns: ns(perf[3]!),
        decide_output_ms: Math.round(this.outputMs * 1000) / 1000,
      },
    };
  }

  emitStats(): void {
    this.outputs?.stats(this.clock.sec, this.clock.nsec, this.buildStats());
  }

  /** Ends a run: a last tick of notices, a final stats event, everything flushed. */
  finish(): void {
    for (const d of this.detectors) d.onFinish(this.clock.now, this.notices);
    if (this.notices.length !== 0) this.handleNotices(this.clock.now);
    this.emitStats();
    this.outputs?.flush();
  }
}
