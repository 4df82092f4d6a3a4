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
  // bruteforce: password guessing per (source, service), from packets
  'bruteforce',
  ...FLOOD_KINDS,
  // a ban made with `palisade ban`
  'operator',
] as const;

export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** True when `s` is a known notice kind. */
export function isNoticeKind(s: string): s is NoticeKind {
  return (NOTICE_KINDS as readonly string[]).includes(s);
}

/** The brute-force detector's services, in the order of their ids (detect/bruteforce.ts). */
export const SERVICES = ['ssh', 'ftp', 'telnet', 'smtp', 'pop3', 'imap', 'rdp', 'vnc', 'mysql', 'postgresql', 'mssql', 'redis', 'sip'] as const;
export type Service = (typeof SERVICES)[number];

/** Default ports by service (`detect.bruteforce.services` replaces any of them). */
export const SERVICE_PORTS: Record<Service, number[]> = {
  ssh: [22],
  ftp: [21],
  telnet: [23],
  smtp: [25, 465, 587],
  pop3: [110, 995],
  imap: [143, 993],
  rdp: [3389],
  vnc: [5900],
  mysql: [3306],
  postgresql: [5432],
  mssql: [1433],
  redis: [6379],
  sip: [5060],
};

