// TCP packets with flag combinations no stack sends (SYN+FIN, SYN+RST, FIN+RST): crafted
// probes, OS fingerprinting or evasion attempts. Each source is reported on its own, once per
// window, however few such packets it sends. Needs no flow state.

import { IpAddr, type CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import { PF, TCP, type Packet } from '../core/packet.js';
import { TableDetector } from './table-detector.js';
import type { DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';
import { impossibleFlags } from './probe.js';
import { keyAddr, pushReport } from './report.js';

export interface BadFlagsConfig {
  enabled: boolean;
  /** Packets with impossible flags from one source before it is reported. */
  packets: number;
  window: number;
  max_sources: number;
}

export const SIG_BAD_FLAGS = 9001500;

const NAMES: readonly [number, string][] = [
  [TCP.FIN, 'FIN'],
  [TCP.SYN, 'SYN'],
  [TCP.RST, 'RST'],
  [TCP.PSH, 'PSH'],
  [TCP.ACK, 'ACK'],
  [TCP.URG, 'URG'],
  [TCP.ECE, 'ECE'],
  [TCP.CWR, 'CWR'],
];

/** "SYN+FIN"-style text of a flags byte. */
export function flagText(f: number): string {
  return NAMES.filter(([bit]) => (f & bit) !== 0)
    .map(([, n]) => n)
    .join('+');
}

const V_START = 0; // the window start (KeyTable.restartWindow)
const V_LAST = 1;
const V_PACKETS = 2;
const V_FIRED = 3;
const V_FLAGS = 4;
const V_COUNT = 5;

export class BadFlagsDetector extends TableDetector {
  readonly name = 'bad_flags';
  private readonly homeNet: CidrSet | null;
  private readonly clock: Clock;
  private packets = 0;

  constructor(
    private readonly cfg: BadFlagsConfig,
    env: DetectorEnv,
  ) {
    super(new KeyTable(4, cfg.max_sources, env.clock, V_COUNT), cfg.window);
    this.homeNet = env.homeNet;
    this.clock = env.clock;
  }

  onPacket(p: Packet, clock: Clock, out: NoticeQueue): void {
    if ((p.flags & PF.TCP) === 0 || !impossibleFlags(p.tcpFlags)) return;
    if (this.homeNet !== null && this.homeNet.match(p.dst0, p.dst1, p.dst2, p.dst3) === null) return;
    this.packets++;
    const now = clock.now;
    const t = this.table;
    const s = this.openRecord(p, false, this.cfg.window);
    const v = t.vals;
    const b = t.valBase(s);
    v[b + V_LAST] = now;
    v[b + V_PACKETS]++;
    v[b + V_FLAGS] = v[b + V_FLAGS]! | p.tcpFlags;
    if (v[b + V_FIRED] !== 0 || v[b + V_PACKETS]! < this.cfg.packets) return;
    v[b + V_FIRED] = 1;
    this.fired++;
    pushReport(out, this.clock, {
      kind: 'bad_flags',
      detector: this.name,
      src: keyAddr(t, s, 0),
      dst: new IpAddr((p.flags & PF.V6) !== 0, p.dst0, p.dst1, p.dst2, p.dst3),
      dstPort: p.dport,
      proto: 6,
      severity: 3,
      signatureId: SIG_BAD_FLAGS,
      signature: `PALISADE impossible TCP flags ${flagText(p.tcpFlags)}`,
      evidence: {
        flags: flagText(p.tcpFlags),
        flags_seen: flagText(v[b + V_FLAGS]!),
        packets: v[b + V_PACKETS],
        first_seen: v[b + V_START],
        last_seen: now,
      },
    });
  }

  override stats(): DetectorStats {
    return { ...super.stats(), packets: this.packets };
  }
}

export const badFlagsFactory: DetectorFactory<BadFlagsConfig> = {
  name: 'bad_flags',
  description: 'TCP packets with impossible flag combinations (SYN+FIN, SYN+RST, FIN+RST)',
  needsFlows: false,
  create: (cfg, env) => new BadFlagsDetector(cfg, env),
};
