// Example detector, the seed's rule: a source that sends `threshold` TCP SYNs (SYN without ACK,
// RST or FIN) within `window` seconds is reported once per window. It counts raw SYNs, so it
// flags any busy client; it is kept as a reference plugin and a baseline, not as a scan detector.

import { IpAddr } from '../core/addr.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import { PF, TCP, type Packet } from '../core/packet.js';
import type { Clock } from '../core/clock.js';
import { TableDetector } from './table-detector.js';
import type { DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';

export interface SynRateConfig {
  enabled: boolean;
  threshold: number;
  /** Seconds. */
  window: number;
  /** Sources tracked at most; the least recently seen is forgotten first. */
  max_sources: number;
}

export const SIG_SYN_RATE = 9000001;

// Per-source values in the key table's records (the window start first: KeyTable.restartWindow).
const V_START = 0;
const V_COUNT = 1;
const V_FIRED = 2;

export class SynRateDetector extends TableDetector {
  readonly name = 'syn_rate';
  private readonly threshold: number;
  private readonly window: number;
  private readonly signature: string;

  constructor(
    cfg: SynRateConfig,
    env: Pick<DetectorEnv, 'clock'>,
  ) {
    super(new KeyTable(4, cfg.max_sources, env.clock, 3), cfg.window);
    this.threshold = cfg.threshold;
    this.window = cfg.window;
    this.signature = `PALISADE SYN rate: ${cfg.threshold} SYNs from one source within ${cfg.window}s`;
  }

  onPacket(p: Packet, clock: Clock, out: NoticeQueue): void {
    if ((p.flags & PF.TCP) === 0 || (p.tcpFlags & (TCP.SYN | TCP.ACK | TCP.RST | TCP.FIN)) !== TCP.SYN) return;
    const t = this.table;
    const s = this.openRecord(p, false, this.window);
    const now = clock.now;
    const v = t.vals;
    const b = t.valBase(s);
    const c = ++v[b + V_COUNT]!;
    if (c >= this.threshold && v[b + V_FIRED] === 0) {
      v[b + V_FIRED] = 1;
      const v6 = (p.flags & PF.V6) !== 0;
      out.push({
        kind: 'syn_rate',
        detector: this.name,
        tsSec: p.tsSec,
        tsNsec: p.tsNsec,
        src: new IpAddr(v6, p.src0, p.src1, p.src2, p.src3),
        dst: new IpAddr(v6, p.dst0, p.dst1, p.dst2, p.dst3),
        srcPort: p.sport,
        dstPort: p.dport,
        proto: p.ipProto,
        severity: 2,
        signatureId: SIG_SYN_RATE,
        signature: this.signature,
        category: 'Attempted Information Leak',
        evidence: {
          syn_count: c,
          threshold: this.threshold,
          window: this.window,
          first_seen: v[b + V_START],
          last_seen: now,
        },
      });
    }
  }

  override stats(): DetectorStats {
    const { fired: _fired, ...s } = super.stats();
    return s;
  }
}

export const synRateFactory: DetectorFactory<SynRateConfig> = {
  name: 'syn_rate',
  description: "the seed's rule: N SYN packets from one source within a window",
  needsFlows: false,
  create: (cfg, env) => new SynRateDetector(cfg, env),
};
