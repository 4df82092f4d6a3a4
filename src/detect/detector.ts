// The detector plugin contract. A detector is pure: it sees each decoded packet and the engine
// time, keeps its own bounded state, and reports what it finds by pushing notices into the queue
// it is handed. No I/O, no wall clock, no side effects beyond its own state.

import type { CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import type { NoticeQueue } from '../core/notice.js';
import type { Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';
import type { ScanFeed } from './scan-feed.js';

export interface DetectorStats {
  /** Keys (sources, pairs, ...) currently held. */
  tracked: number;
  /** Bytes of state held (preallocated tables count in full). */
  memuse: number;
  [counter: string]: number;
}

export interface Detector {
  /** The detector's registry name (also its config key under `detect:`). */
  readonly name: string;
  /** Called for every decoded packet, in capture order; `clock.now` is packet time in seconds. */
  onPacket(p: Packet, clock: Clock, out: NoticeQueue): void;
  /**
   * Called for every IP fragment before reassembly, when defrag is on (the detector then sees the
   * rebuilt datagram through onPacket, never the fragments). Absent: fragments are not its concern.
   */
  onFragment?(p: Packet, clock: Clock, out: NoticeQueue): void;
  /** Called about once per second of packet time: expire state, report what time alone reveals. */
  onTick(now: number, out: NoticeQueue): void;
  /** End of input (a replay finished, capture stopped): report what was still waiting for answers. */
  onFinish(now: number, out: NoticeQueue): void;
  stats(): DetectorStats;
  /** Forgets all state. */
  clear(): void;
}

/**
 * What a detector may read besides packets: engine time, the track stage's flow table (read
 * only), which is null unless the detector's factory declares `needsFlows`, the networks it
 * protects (`home_net`; null: every destination counts), and the packet's scan events (probe,
 * answer, reject, close; prefiltered per source), non-null when the factory declares `needsScans`.
 */
export interface DetectorEnv {
  readonly clock: Clock;
  readonly flows: FlowTable | null;
  readonly homeNet: CidrSet | null;
  readonly scans: ScanFeed | null;
}

export interface DetectorFactory<C = unknown> {
  readonly name: string;
  readonly description: string;
  /** True when the detector reads flow state: the track stage then runs for every packet. */
  readonly needsFlows: boolean;
  /**
   * True when the detector reads `env.scans` (implies `needsFlows`). Its `onPacket` is then
   * called only for the packets that carry scan events (`env.scans.count > 0`).
   */
  readonly needsScans?: boolean;
  create(config: C, env: DetectorEnv): Detector;
}
