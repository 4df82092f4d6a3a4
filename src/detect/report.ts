// Notice building shared by the scan detectors: addresses from words, packet time from the
// engine clock, sorted samples. Runs only when a detector fires, never per packet.

import { IpAddr } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import type { KeyTable } from '../core/key-table.js';
import type { NoticeQueue, Severity } from '../core/notice.js';
import { FP_NAMES } from './probe.js';

export interface ScanReport {
  kind: string;
  detector: string;
  src: IpAddr;
  dst: IpAddr | null;
  dstPort: number;
  proto: number;
  severity: Severity;
  signatureId: number;
  signature: string;
  evidence: Record<string, unknown>;
}

/** The address held in four words of `a` from `at`. */
export function addrAt(v6: boolean, a: Int32Array, at: number): IpAddr {
  return new IpAddr(v6, a[at]!, a[at + 1]!, a[at + 2]!, a[at + 3]!);
}

/** Pushes a notice stamped with the clock's current packet time. */
export function pushReport(out: NoticeQueue, clock: Clock, r: ScanReport): void {
  const now = clock.now;
  const sec = Math.floor(now);
  out.push({
    kind: r.kind,
    detector: r.detector,
    tsSec: sec,
    tsNsec: Math.min(999999999, Math.round((now - sec) * 1e9)),
    src: r.src,
    dst: r.dst,
    srcPort: 0,
    dstPort: r.dstPort,
    proto: r.proto,
    severity: r.severity,
    signatureId: r.signatureId,
    signature: r.signature,
    category: 'Attempted Information Leak',
    evidence: r.evidence,
  });
}

/** The IP protocol number of a probe class's packets. */
export function classProto(cls: number, v6: boolean): number {
  return cls === 7 ? 17 : cls === 8 ? (v6 ? 58 : 1) : 6;
}

/** Ascending copy of the first `n` values of a sample. */
export function sortedSample(a: Uint16Array, from: number, n: number): number[] {
  return Array.from(a.subarray(from, from + n)).sort((x, y) => x - y);
}

/** The named tool whose fingerprint most probes carried (at least half of them), or null. */
function toolOf(counts: readonly number[], names: readonly string[], probes: number): string | null {
  let best = -1;
  for (let i = 0; i < counts.length; i++) if (names[i] !== 'os_stack' && names[i] !== 'fragmented' && (best < 0 || counts[i]! > counts[best]!)) best = i;
  return best >= 0 && counts[best]! * 2 >= probes && counts[best]! > 0 ? names[best]! : null;
}

/**
 * Evidence from the fingerprint counters at `v[b]..`: the tool, the counts seen, and how many
 * probes came in fragments that split their transport header (`fragmented`, an evasion).
 */
export function fingerprintEvidence(ints: Int32Array, i: number, probes: number): { tool: string | null; fingerprints: Record<string, number>; fragmented: boolean; fragmented_probes: number } {
  const counts = FP_NAMES.map((_, k) => ints[i + k]!);
  const fingerprints: Record<string, number> = {};
  FP_NAMES.forEach((n, i) => {
    if (counts[i]! > 0) fingerprints[n] = counts[i]!;
  });
  const frag = counts[FP_NAMES.indexOf('fragmented')]!;
  return { tool: toolOf(counts, FP_NAMES, probes), fingerprints, fragmented: frag > 0, fragmented_probes: frag };
}

/** The four address words of key `t`'s slot `s` from word `at`, and whether they are IPv6. */
export function keyAddr(t: KeyTable, s: number, at: number): IpAddr {
  const v4 = t.keyWord(s, at) === 0 && t.keyWord(s, at + 1) === 0 && t.keyWord(s, at + 2) === 0xffff;
  return new IpAddr(!v4, t.keyWord(s, at), t.keyWord(s, at + 1), t.keyWord(s, at + 2), t.keyWord(s, at + 3));
}
