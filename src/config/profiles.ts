// Detection profiles: one word sets every scan threshold and window at once; keys set in the
// config file override the profile's. `normal` is the default and the schema's defaults. The
// reasons for each value are in docs/detection.md.

export const PROFILE_NAMES = ['normal', 'aggressive', 'paranoid'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** Per-profile values of the `detect:` section (durations in config syntax). */
export const PROFILES = {
  normal: {
    port_scan: {
      // Zeek's scan.zeek: 15 distinct failed ports per attacker/victim in 5 minutes.
      ports: 15,
      window: '5m',
      failure_ratio: 0.5,
      response_timeout: '3s',
      distributed: { ports: 30, sources: 3, source_ports: 5 },
    },
    // Zeek's address-scan threshold: 25 hosts in 5 minutes.
    sweep: { hosts: 25, window: '5m', failure_ratio: 0.5, response_timeout: '3s' },
    slow_scan: { ports: 30, window: '1h', min_duration: '5m', failure_ratio: 0.5 },
    os_fingerprint: { probes: 4, window: '5m' },
    // fail2ban's maxretry and findtime (5 in 10 minutes); shape-judged services need many more.
    bruteforce: { failures: 5, window: '10m', sessions: 20 },
    // Per-victim floors (docs/floods.md): far over what a small server sees, far under a flood.
    flood: {
      thresholds: {
        syn_flood: { pps: 100, mbps: 0 },
        ack_flood: { pps: 5000, mbps: 0 },
        rst_flood: { pps: 1000, mbps: 0 },
        udp_flood: { pps: 10000, mbps: 100 },
        icmp_flood: { pps: 500, mbps: 10 },
        frag_flood: { pps: 1000, mbps: 0 },
        synack_reflection: { pps: 200, mbps: 0 },
        udp_amplification: { pps: 200, mbps: 10 },
      },
    },
  },
  aggressive: {
    port_scan: { ports: 8, window: '15m', failure_ratio: 0.4, response_timeout: '3s', distributed: { ports: 20, sources: 3, source_ports: 4 } },
    sweep: { hosts: 12, window: '15m', failure_ratio: 0.4, response_timeout: '3s' },
    slow_scan: { ports: 20, window: '6h', min_duration: '15m', failure_ratio: 0.4 },
    os_fingerprint: { probes: 3, window: '15m' },
    bruteforce: { failures: 4, window: '30m', sessions: 15 },
    flood: {
      thresholds: {
        syn_flood: { pps: 50, mbps: 0 },
        ack_flood: { pps: 2500, mbps: 0 },
        rst_flood: { pps: 500, mbps: 0 },
        udp_flood: { pps: 5000, mbps: 50 },
        icmp_flood: { pps: 250, mbps: 5 },
        frag_flood: { pps: 500, mbps: 0 },
        synack_reflection: { pps: 100, mbps: 0 },
        udp_amplification: { pps: 100, mbps: 5 },
      },
    },
  },
  paranoid: {
    port_scan: { ports: 5, window: '1h', failure_ratio: 0.3, response_timeout: '5s', distributed: { ports: 12, sources: 2, source_ports: 3 } },
    sweep: { hosts: 6, window: '1h', failure_ratio: 0.3, response_timeout: '5s' },
    slow_scan: { ports: 10, window: '24h', min_duration: '1h', failure_ratio: 0.3 },
    os_fingerprint: { probes: 2, window: '1h' },
    // Never under 3: a user who mistypes twice and then logs in is no attacker.
    bruteforce: { failures: 3, window: '1h', sessions: 10 },
    flood: {
      thresholds: {
        syn_flood: { pps: 25, mbps: 0 },
        ack_flood: { pps: 1000, mbps: 0 },
        rst_flood: { pps: 250, mbps: 0 },
        udp_flood: { pps: 2500, mbps: 25 },
        icmp_flood: { pps: 100, mbps: 2 },
        frag_flood: { pps: 250, mbps: 0 },
        synack_reflection: { pps: 50, mbps: 0 },
        udp_amplification: { pps: 50, mbps: 2 },
      },
    },
  },
} as const;

/** Per-profile values of the `decide:` section: normal bans on severity 1-2 notices (fast scans,
 *  sweeps, OS fingerprinting); aggressive and paranoid also ban slow scans and odd-flag packets. */
export const DECIDE_PROFILES = {
  normal: { ban_severity: 2 },
  aggressive: { ban_severity: 3 },
  paranoid: { ban_severity: 3 },
} as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` laid on `base`: mappings merge key by key, anything else in `over` wins. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  // Own properties only, defined rather than assigned: a "__proto__" key stays a key (and is
  // then reported as unknown) instead of replacing the prototype.
  for (const [k, v] of Object.entries(over)) {
    const value = deepMerge(Object.hasOwn(base, k) ? base[k] : undefined, v);
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The raw config with its profile's detection values filled in under the keys it does not set. */
export function applyProfile(raw: Record<string, unknown>): Record<string, unknown> {
  const name = raw.profile ?? 'normal';
  if (typeof name !== 'string' || !(PROFILE_NAMES as readonly string[]).includes(name)) return raw; // the schema reports it
  return deepMerge({ detect: PROFILES[name as ProfileName], decide: DECIDE_PROFILES[name as ProfileName] }, raw) as Record<string, unknown>;
}
