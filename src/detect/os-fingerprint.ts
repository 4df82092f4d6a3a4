// nmap OS detection (-O): its probes are unlike anything a TCP/IP stack sends. The SEQ, T2-T7
// probes carry a TCP timestamp of 0xFFFFFFFF with fixed windows and odd flag sets, the ECN probe
// is SYN+ECE+CWR with window 3, the IE probes are ICMP echoes with code 9, and U1 is a UDP
// datagram of 300 'C' bytes. Per (source, target) the distinct probe types are collected; enough
// of them within the window is an `os_fingerprint`. Needs no flow state.

import type { CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { NoticeQueue } from '../core/notice.js';
import { PF, TCP, type Packet } from '../core/packet.js';
import { TableDetector } from './table-detector.js';
import type { DetectorEnv, DetectorFactory } from './detector.js';
import { hasTimestamp } from './probe.js';
import { keyAddr, pushReport } from './report.js';

export interface OsFingerprintConfig {
  enabled: boolean;
  /** Distinct nmap OS probe types from one source to one target. */
  probes: number;
  window: number;
  max_pairs: number;
}

export const SIG_OS_FINGERPRINT = 9001400;

/** nmap OS probe types, in nmap's naming. */
export const OS_PROBE_NAMES = ['SEQ', 'ECN', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'IE', 'U1'] as const;
const SEQ = 1;
const ECN = 2;
const T2 = 4;
const T3 = 8;
const T4 = 16;
const T5 = 32;
const T6 = 64;
const T7 = 128;
const IE = 256;
const U1 = 512;

const CORE = TCP.FIN | TCP.SYN | TCP.RST | TCP.PSH | TCP.ACK | TCP.URG;

/** The nmap OS probe type of a packet (one bit), or 0. */
export function osProbeType(p: Packet): number {
  const f = p.flags;
  if ((f & PF.TCP) !== 0) {
    const w = p.tcpWin;
    const fl = p.tcpFlags;
    if (w === 3 && (fl & (TCP.SYN | TCP.ECE | TCP.CWR | TCP.ACK)) === (TCP.SYN | TCP.ECE | TCP.CWR)) return ECN;
    if (p.tcpTsVal !== -1 || !hasTimestamp(p)) return 0;
    const core = fl & CORE;
    switch (w) {
      case 1:
      case 4:
      case 16:
      case 63:
      case 512:
        return core === TCP.SYN ? SEQ : 0;
      case 128:
        return core === 0 ? T2 : 0;
      case 256:
        return core === (TCP.SYN | TCP.FIN | TCP.PSH | TCP.URG) ? T3 : 0;
      case 1024:
        return core === TCP.ACK ? T4 : 0;
      case 31337:
        return core === TCP.SYN ? T5 : 0;
      case 32768:
        return core === TCP.ACK ? T6 : 0;
      case 65535:
        return core === (TCP.FIN | TCP.PSH | TCP.URG) ? T7 : 0;
      default:
        return 0;
    }
  }
  if ((f & PF.ICMP4) !== 0) return p.icmpType === 8 && p.icmpCode === 9 ? IE : 0;
  if ((f & PF.UDP) !== 0 && p.payLen === 300 && p.payOff >= 0 && p.payOff + 300 <= p.off + p.caplen) {
    const d = p.data;
    return d[p.payOff] === 0x43 && d[p.payOff + 150] === 0x43 && d[p.payOff + 299] === 0x43 ? U1 : 0;
  }
  return 0;
}

function popcount(x: number): number {
  let n = 0;
  for (; x !== 0; x &= x - 1) n++;
  return n;
}

const V_START = 0; // the window start (KeyTable.restartWindow)
const V_LAST = 1;
const V_TYPES = 2;
const V_PACKETS = 3;
const V_FIRED = 4;
const V_COUNT = 5;

export class OsFingerprintDetector extends TableDetector {
  readonly name = 'os_fingerprint';
  private readonly homeNet: CidrSet | null;
  private readonly clock: Clock;

  constructor(
    private readonly cfg: OsFingerprintConfig,
    env: DetectorEnv,
  ) {
    super(new KeyTable(8, cfg.max_pairs, env.clock, V_COUNT), cfg.window);
    this.homeNet = env.homeNet;
    this.clock = env.clock;
  }

  onPacket(p: Packet, clock: Clock, out: NoticeQueue): void {
    if ((p.flags & (PF.TCP | PF.UDP | PF.ICMP4)) === 0) return;
    const type = osProbeType(p);
    if (type === 0) return;
    if (this.homeNet !== null && this.homeNet.match(p.dst0, p.dst1, p.dst2, p.dst3) === null) return;
    const now = clock.now;
    const t = this.table;
    const s = this.openRecord(p, true, this.cfg.window);
    const v = t.vals;
    const b = t.valBase(s);
    v[b + V_LAST] = now;
    v[b + V_PACKETS]++;
    const types = v[b + V_TYPES]! | type;
    v[b + V_TYPES] = types;
    if (v[b + V_FIRED] !== 0 || popcount(types) < this.cfg.probes) return;
    v[b + V_FIRED] = 1;
    this.fired++;
    const names = OS_PROBE_NAMES.filter((_, i) => (types & (1 << i)) !== 0);
    pushReport(out, this.clock, {
      kind: 'os_fingerprint',
      detector: this.name,
      src: keyAddr(t, s, 0),
      dst: keyAddr(t, s, 4),
      dstPort: p.dport,
      proto: p.ipProto,
      severity: 2,
      signatureId: SIG_OS_FINGERPRINT,
      signature: `PALISADE nmap OS fingerprinting: ${names.length} probe types`,
      evidence: {
        target: keyAddr(t, s, 4).toString(),
        probe_types: names,
        packets: v[b + V_PACKETS],
        threshold: this.cfg.probes,
        window: this.cfg.window,
        first_seen: v[b + V_START],
        last_seen: now,
        tool: 'nmap',
      },
    });
  }

}

export const osFingerprintFactory: DetectorFactory<OsFingerprintConfig> = {
  name: 'os_fingerprint',
  description: 'nmap OS detection probes (SEQ, ECN, T2-T7, IE, U1)',
  needsFlows: false,
  create: (cfg, env) => new OsFingerprintDetector(cfg, env),
};
