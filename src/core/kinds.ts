// The notice kinds: every kind a detector can emit, and `operator` for manual bans. Config keys
// that name a kind (`decide.kinds`) are checked against this list; a test keeps it in step with
// the detectors.

export const NOTICE_KINDS = [
  // port_scan: one per probe class (detect/probe.ts SCAN_KIND), and connect_scan for SYN probes
  'syn_scan',
  'connect_scan',
  'fin_scan',
  'null_scan',
  'xmas_scan',
  'ack_scan',
  'maimon_scan',
  'udp_scan',
  'icmp_scan',
  'decoy_scan',
  'distributed_scan',
  'sweep',
  'slow_scan',
  'os_fingerprint',
  'bad_flags',
  'syn_rate',
  // flood (detect/flood.ts FLOOD_KINDS)
  'syn_flood',
  'ack_flood',
  'rst_flood',
  'udp_flood',
  'icmp_flood',
  'frag_flood',
  'synack_reflection',
  'udp_amplification',
  // a ban made with `palisade ban`
  'operator',
] as const;

export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** True when `s` is a known notice kind. */
export function isNoticeKind(s: string): s is NoticeKind {
  return (NOTICE_KINDS as readonly string[]).includes(s);
}
