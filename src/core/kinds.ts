// The notice kinds: every kind a detector can emit, and `operator` for manual bans. Config keys
// that name a kind (`decide.kinds`) are checked against this list; a test keeps it in step with
// the detectors.

/** The flood kinds (detect/flood.ts reports them; enforce/mitigation.ts mitigates them). */
export const FLOOD_KINDS = ['syn_flood', 'ack_flood', 'rst_flood', 'udp_flood', 'icmp_flood', 'frag_flood', 'synack_reflection', 'udp_amplification'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

/**
 * UDP source ports of services that answer a small spoofed request with a large reply (or many):
 * QOTD, chargen, DNS, TFTP, portmap, NTP, NetBIOS, SNMP, CLDAP, IKE, RIP, MS-SQL browser, SSDP,
 * ARD, WS-Discovery, NAT-PMP, mDNS, CoAP, Ubiquiti discovery, memcached, Steam. The flood
 * detector's `amplifier_ports` default and the mitigation's.
 */
export const AMPLIFIER_PORTS: readonly number[] = [17, 19, 53, 69, 111, 123, 137, 161, 389, 500, 520, 1434, 1900, 3283, 3702, 5351, 5353, 5683, 10001, 11211, 27015];

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
  ...FLOOD_KINDS,
  // a ban made with `palisade ban`
  'operator',
] as const;

export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** True when `s` is a known notice kind. */
export function isNoticeKind(s: string): s is NoticeKind {
  return (NOTICE_KINDS as readonly string[]).includes(s);
}
