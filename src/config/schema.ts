// The config schema (zod): every key, its type, its default and the reason for it. Unknown keys
// are errors. Durations are seconds after parsing, sizes are bytes, CIDRs are checked.

import { z } from 'zod';
import { Cidr } from '../core/addr.js';
import { AMPLIFIER_PORTS, NOTICE_KINDS, SERVICE_PORTS, SERVICES, isNoticeKind, type Service } from '../core/kinds.js';
import { capText, escapeControl } from '../core/text.js';
import { PROFILE_NAMES, PROFILES } from './profiles.js';
import { formatDuration, parseDuration, parseSize } from './units.js';

/** A value from the file as messages show it: quoted, cut to 80 characters, controls escaped. */
export function quoted(v: unknown): string {
  return typeof v === 'string' ? escapeControl(JSON.stringify(capText(v, 80))) : String(v);
}

/** The schemas made by `duration()`: configToYaml writes their values back in units. */
export const DURATION_SCHEMAS = new WeakSet<object>();

/** Always trusted, whatever the config says: the host talking to itself. */
export const ALWAYS_TRUSTED = ['127.0.0.0/8', '::1/128'] as const;

/** The longest ban (block.duration, escalation steps, decide.kinds durations): 10 years, the same
 *  ceiling as the control socket's MAX_BAN_SECONDS (control/protocol.ts; config does not import it). */
export const MAX_BAN_SECONDS = 10 * 365 * 86400;

/** The longest of any other duration: 100 years, past which it is no longer a date offset. */
export const MAX_DURATION_SECONDS = 100 * 365 * 86400;

const DURATION_HINT = 'expected a duration such as 30s, 10m, 1h or 7d (or a number of seconds)';

/**
 * A duration in seconds from `min` to `max` (both inclusive). Each key sets its minimum: above
 * zero wherever zero means nothing (a zero ban, window or interval), 0 only where it means
 * something documented with the key.
 */
const duration = (def: string, min: number, max = MAX_DURATION_SECONDS) => {
  // Ceilings under a week read best in hours (24h).
  const most = max % 3600 === 0 && max < 7 * 86400 ? `${max / 3600}h` : formatDuration(max);
  const schema = z
    .union([z.number(), z.string()], { error: DURATION_HINT })
    .transform((v, ctx) => {
      const s = parseDuration(v);
      if (s === null) {
        ctx.issues.push({ code: 'custom', input: v, message: `${DURATION_HINT}, got ${quoted(v)}` });
        return z.NEVER;
      }
      if (s < min || s > max) {
        const want = s < min ? `at least ${formatDuration(min)}` : `at most ${most}`;
        ctx.issues.push({ code: 'custom', input: v, message: `expected a duration of ${want}, got ${quoted(v)}` });
        return z.NEVER;
      }
      return s;
    })
    .prefault(def);
  DURATION_SCHEMAS.add(schema);
  return schema;
};

/** The largest size: 1 GiB, what one table or ring may take (more fails to allocate). */
const MAX_SIZE = 1 << 30;

const size = (def: string) =>
  z
    .union([z.number(), z.string()], { error: 'expected a size such as 32MiB or a number of bytes' })
    .transform((v, ctx) => {
      const s = parseSize(v);
      if (s === null) {
        ctx.issues.push({ code: 'custom', input: v, message: `expected a size such as 32MiB or a number of bytes, got ${quoted(v)}` });
        return z.NEVER;
      }
      if (s > MAX_SIZE) {
        ctx.issues.push({ code: 'custom', input: v, message: `expected a size of at most 1GiB, got ${quoted(v)}` });
        return z.NEVER;
      }
      return s;
    })
    .prefault(def);

const cidr = z.string({ error: 'expected a CIDR string such as 10.0.0.0/8 or 2001:db8::/32' }).check((ctx) => {
  if (Cidr.parse(ctx.value) === null) {
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      message: `${quoted(ctx.value)} is not a valid CIDR (expected an IPv4 or IPv6 address with an optional /prefix, e.g. 10.0.0.0/8 or 2001:db8::/32)`,
    });
  }
});

const int = (min: number, max: number, def: number) =>
  z
    .number({ error: `expected an integer from ${min} to ${max}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, { error: `expected an integer from ${min} to ${max}` })
    .max(max, { error: `expected an integer from ${min} to ${max}` })
    .default(def);

const bool = (def: boolean) => z.boolean({ error: 'expected true or false' }).default(def);

const ratio = (def: number) =>
  z.number({ error: 'expected a fraction from 0 to 1' }).min(0, { error: 'expected a fraction from 0 to 1' }).max(1, { error: 'expected a fraction from 0 to 1' }).default(def);

/** A problem found across keys: `path` is under the checked value; `atKey` locates it at the key. */
interface CrossIssue {
  path: PropertyKey[];
  message: string;
  atKey?: boolean;
}

/**
 * A check across the keys of a mapping, run even when other keys have problems (so that every
 * problem is reported at once); keys that failed their own schema hold their raw values.
 */
const across = (check: (v: Record<string, unknown>) => CrossIssue[]) => [
  (v: unknown, ctx: z.RefinementCtx) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
    for (const i of check(v as Record<string, unknown>)) {
      ctx.addIssue({ code: 'custom', input: valueOf(v, i.path), path: i.path, message: i.message, params: i.atKey ? { atKey: true } : undefined });
    }
  },
  { when: () => true },
] as const;

function valueOf(v: unknown, path: readonly PropertyKey[]): unknown {
  for (const seg of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

/** What a trusted entry covers (and what follows) when it holds all of IPv4 or IPv6, else null. */
export function coversEverything(entry: string): string | null {
  const c = Cidr.parse(entry);
  if (c === null) return null;
  if (c.bits === 0) return 'every address, so no source would ever be banned';
  // IPv4 is matched as ::ffff:a.b.c.d, so an IPv6 prefix holding ::ffff:0:0/96 holds all of IPv4.
  if (c.bits <= 96 && c.contains(0, 0, 0xffff, 0)) {
    return `every IPv4 address${c.addr.v6 ? ' (IPv4 is matched as ::ffff:0:0/96)' : ''}, so no IPv4 source would ever be banned`;
  }
  return null;
}

const N = PROFILES.normal;

/** Target-based overlap policies of IP reassembly (src/defrag/policy.ts). */
const DEFRAG_POLICIES = ['bsd', 'linux', 'windows', 'solaris', 'first', 'last'] as const;

/** Mitigation rates by flood kind (packets/s let through, burst): their reasons are in docs/mitigation.md. */
const MITIGATION_RATES = {
  syn_flood: { rate: 1000, burst: 2000 },
  ack_flood: { rate: 1000, burst: 2000 },
  rst_flood: { rate: 100, burst: 200 },
  udp_flood: { rate: 2000, burst: 4000 },
  icmp_flood: { rate: 100, burst: 200 },
  frag_flood: { rate: 1000, burst: 2000 },
  synack_reflection: { rate: 100, burst: 200 },
  udp_amplification: { rate: 0, burst: 0 },
} as const;
const DAY = 86400;

const EVENT_TYPES = ['alert', 'stats', 'ban', 'flood'] as const;
const eventTypes = z
  .array(z.enum(EVENT_TYPES, { error: `expected one of: ${EVENT_TYPES.join(', ')}` }), { error: `expected a list of: ${EVENT_TYPES.join(', ')}` })
  .default([...EVENT_TYPES]);

export const configSchema = z.strictObject({
  capture: z
    .strictObject({
      /** null: the interface of the default route. */
      interface: z.string({ error: 'expected an interface name' }).min(1).nullable().default(null),
      /** A BPF filter (tcpdump syntax); empty captures everything. */
      filter: z.string({ error: 'expected a BPF filter string' }).default(''),
      /** 256 KiB: whole packets, including GRO/TSO super-frames. */
      snaplen: int(64, 262144, 262144),
      /** 32 MiB of kernel ring: a few hundred ms of a 1 Gb/s burst. */
      buffer_size: size('32MiB'),
      promiscuous: bool(true),
      /**
       * The kernel hands over its ring blocks at least this often (TPACKET_V3's block timeout);
       * 0: immediate mode (TPACKET_V2, one wake-up of the capture thread per packet).
       */
      timeout_ms: int(0, 10000, 1),
      /** Palisade's own ring between the capture thread and the pipeline (docs/capture.md). */
      ring_size: size('64MiB'),
    })
    .prefault({}),
  /** Sources never acted on. Loopback is always added. */
  trusted: z.array(cidr, { error: 'expected a list of CIDRs' }).default([]),
  /**
   * Accept `trusted` entries that cover all of IPv4 or IPv6 (0.0.0.0/0, ::/0, ::ffff:0:0/96).
   * Such an entry silently disables every ban, so it is refused unless this is true (for
   * example an alert-only deployment that must never block).
   */
  trusted_force: bool(false),
  block: z
    .strictObject({
      /** A first offence's ban: the seed's 10 minutes. */
      duration: duration('10m', 1, MAX_BAN_SECONDS),
      /** Bans of repeat offences, in order; the last step repeats. Empty: every ban is `duration`. */
      escalation: z.array(duration('1h', 1, MAX_BAN_SECONDS), { error: 'expected a list of durations such as [1h, 24h, 7d]' }).default(() => [3600, 86400, 7 * DAY]),
      /** An offender's count is forgotten after this long without a ban. */
      forget_after: duration('30d', 1),
      /** The prefix banned for an IPv4 source: 32 bans the address alone. */
      ipv4_prefix: int(8, 32, 32),
      /** The prefix banned for an IPv6 source: a host usually holds a whole /64. */
      ipv6_prefix: int(16, 128, 64),
      /** At most this many new bans a minute; the excess only alerts (spoofed scans from many addresses). */
      max_per_minute: int(1, 1000000, 60),
      /** At most this many bans in force at once; the excess only alerts. */
      max_active: int(1, 10000000, 100000),
    })
    .prefault({}),
  /** Which notices ban. Profiles set `ban_severity` (normal 2, aggressive and paranoid 3). */
  decide: z
    .strictObject({
      /** Notices this severe or more (1 is the most severe) ban their source; the rest alert. 0: never ban. */
      ban_severity: int(0, 3, 2),
      /** Per-kind overrides: `syn_scan: { action: alert }`, `sweep: { duration: 1h }`. */
      kinds: z
        .record(
          z.string(),
          z.strictObject({
            action: z.enum(['ban', 'alert', 'ignore'], { error: 'expected one of: ban, alert, ignore' }).optional(),
            /** This kind's first ban (escalation still applies to repeats). */
            duration: duration('10m', 1, MAX_BAN_SECONDS).optional(),
          }),
          { error: 'expected a mapping of notice kinds to { action, duration }' },
        )
        .superRefine(
          ...across((kinds) =>
            Object.keys(kinds)
              .filter((k) => !isNoticeKind(k))
              .map((k) => ({ path: [k], atKey: true, message: `unknown notice kind ${quoted(k)} (expected one of: ${NOTICE_KINDS.join(', ')})` })),
          ),
        )
        .default({}),
    })
    .prefault({}),
  /** The firewall: where bans go. */
  enforce: z
    .strictObject({
      /** nftables (sets with per-element timeouts), ipset (+ one iptables rule), iptables (a rule per ban), dry-run (log only). */
      backend: z.enum(['nftables', 'ipset', 'iptables', 'dry-run'], { error: 'expected one of: nftables, ipset, iptables, dry-run' }).default('nftables'),
      /** The nftables table, the ipset set prefix and the iptables chain that Palisade owns. */
      name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,23}$/, { error: 'expected a name of letters, digits, _ and - (at most 24)' }).default('palisade'),
      /** Remove every ban on exit (off: bans stay in force until they expire). */
      flush_on_exit: bool(false),
      /** A failed firewall change is retried after this, doubling up to `retry_max`. */
      retry_initial: duration('1s', 0.01),
      retry_max: duration('1m', 0.01),
    })
    .superRefine(
      ...across((e) =>
        typeof e.retry_initial === 'number' && typeof e.retry_max === 'number' && e.retry_initial > e.retry_max
          ? [{ path: ['retry_initial'], message: `retry_initial (${formatDuration(e.retry_initial)}) is longer than retry_max (${formatDuration(e.retry_max)})` }]
          : [],
      ),
    )
    .prefault({}),
  /**
   * Kernel-side mitigation of floods that cannot be banned (spoofed or too many sources): rate
   * limits per victim (and port) in Palisade's own firewall objects, while the flood lasts and
   * `hold` after (docs/mitigation.md).
   */
  mitigation: z
    .strictObject({
      enabled: bool(true),
      hold: duration('60s', 0, DAY),
      /** syn_flood: nftables synproxy instead of a rate limit (needs a port). */
      synproxy: bool(false),
      /** Packets a second let through per victim (and port), and the burst, by flood kind. */
      rates: z
        .strictObject(
          Object.fromEntries(
            (Object.keys(MITIGATION_RATES) as (keyof typeof MITIGATION_RATES)[]).map((k) => [
              k,
              z.strictObject({ rate: int(0, 1000000000, MITIGATION_RATES[k].rate), burst: int(0, 1000000000, MITIGATION_RATES[k].burst) }).prefault({}),
            ]),
          ) as { [K in keyof typeof MITIGATION_RATES]: z.ZodPrefault<z.ZodObject<{ rate: z.ZodDefault<z.ZodNumber>; burst: z.ZodDefault<z.ZodNumber> }, z.core.$strict>> },
        )
        .prefault({}),
    })
    .prefault({}),
  state: z
    .strictObject({
      /** The SQLite database: decisions, notices, offence counts. Empty: memory only. */
      path: z.string({ error: 'expected a file path' }).default('/var/lib/palisade/palisade.db'),
      /** Notices older than this are pruned. */
      retention: duration('90d', 1),
    })
    .prefault({}),
  control: z
    .strictObject({
      /** The daemon's control socket (mode 0600) for `palisade status`, `bans`, `ban`, `unban`, `history`. Empty: none. */
      socket: z.string({ error: 'expected a file path' }).default('/run/palisade/palisade.sock'),
    })
    .prefault({}),
  honeypot: z
    .strictObject({
      /** Answer a known scanner's SYNs to closed ports with forged SYN-ACKs (the seed's trick). */
      enabled: bool(false),
      /** Only these destination ports are answered; empty: any port. */
      ports: z.array(z.number().int().min(1).max(65535), { error: 'expected a list of port numbers' }).default([]),
      /** At most this many replies a second, over all sources. */
      rate: int(1, 100000, 100),
    })
    .prefault({}),
  flow: z
    .strictObject({
      /** auto: track flows when an enabled detector reads flow state; on / off: always / never. */
      tracking: z.enum(['auto', 'on', 'off'], { error: 'expected one of: auto, on, off' }).default('auto'),
      /** Idle time after which a flow is forgotten. */
      timeout: duration('120s', 1),
      /** A TCP flow that ended (RST, or FIN both ways) is released after this much quiet. */
      closed_timeout: duration('2s', 0.001),
      /** IPv4 flows held (IPv6: half as many); ~190 bytes per IPv4+IPv6 pair, allocated up front. */
      max_flows: int(1024, 16777216, 262144),
    })
    .prefault({}),
  /** IP reassembly (src/defrag/): fragments are rebuilt into the datagram the target host sees. */
  defrag: z
    .strictObject({
      enabled: bool(true),
      /** A datagram waits this long for its next fragment (Suricata's and frag3's default). */
      timeout: duration('60s', 1, DAY),
      /** Fragment storage (allocated up front, paged in as used): Suricata's suricata.yaml value. */
      memcap: size('32MiB'),
      /** Datagrams reassembled at once. */
      max_trackers: int(16, 1048576, 65535),
      /** Fragments held for one datagram. */
      max_frags: int(1, 8192, 256),
      /** The overlap policy of the target's stack, for destinations no entry of `policies` holds. */
      policy: z.enum(DEFRAG_POLICIES, { error: `expected one of: ${DEFRAG_POLICIES.join(', ')}` }).default('linux'),
      /** Per-network policies (home_net hosts running other stacks); the longest prefix wins. */
      policies: z
        .array(z.strictObject({ cidr, policy: z.enum(DEFRAG_POLICIES, { error: `expected one of: ${DEFRAG_POLICIES.join(', ')}` }) }), { error: 'expected a list of { cidr, policy }' })
        .default([]),
    })
    .superRefine(
      ...across((d) => (typeof d.memcap === 'number' && d.memcap < 131072 ? [{ path: ['memcap'], message: 'expected at least 128KiB (one datagram of the largest size)' }] : [])),
    )
    .prefault({}),
  /** Sets every detection threshold at once (see config/profiles.ts); keys below override it. */
  profile: z.enum(PROFILE_NAMES, { error: `expected one of: ${PROFILE_NAMES.join(', ')}` }).default('normal'),
  /** The networks Palisade protects: only probes of these addresses count. Empty: any address. */
  home_net: z.array(cidr, { error: 'expected a list of CIDRs' }).default([]),
  detect: z
    .strictObject({
      /**
       * Per-source prefilter of the scan detectors: sources whose probes are all answered never
       * reach their tables; a source with failed probes is escalated and its recent probes are
       * replayed (docs/detection.md). Off: every probe goes to every scan detector.
       */
      prefilter: z
        .strictObject({
          enabled: bool(true),
          /** ~330 bytes a source (one record holding its ring of recent probes); allocated up front. */
          max_sources: int(16, 4194304, 16384),
        })
        .prefault({}),
      port_scan: z
        .strictObject({
          enabled: bool(true),
          ports: int(2, 65536, N.port_scan.ports),
          window: duration(N.port_scan.window, 1, DAY),
          failure_ratio: ratio(N.port_scan.failure_ratio),
          response_timeout: duration(N.port_scan.response_timeout, 0.001, 300),
          /** ~330 bytes a pair with its port bitmap and sample; allocated up front. */
          max_pairs: int(16, 4194304, 32768),
          /** ~900 bytes a target with its sampled sources; allocated when decoy or distributed is on. */
          max_targets: int(16, 1048576, 4096),
          decoy: z
            .strictObject({
              enabled: bool(true),
              skew: duration('2s', 0.001, 60),
              overlap: ratio(0.5),
            })
            .prefault({}),
          distributed: z
            .strictObject({
              enabled: bool(true),
              ports: int(2, 65536, N.port_scan.distributed.ports),
              sources: int(2, 16, N.port_scan.distributed.sources),
              source_ports: int(1, 65536, N.port_scan.distributed.source_ports),
            })
            .prefault({}),
        })
        .prefault({}),
      sweep: z
        .strictObject({
          enabled: bool(true),
          hosts: int(2, 16777216, N.sweep.hosts),
          window: duration(N.sweep.window, 1, DAY),
          failure_ratio: ratio(N.sweep.failure_ratio),
          response_timeout: duration(N.sweep.response_timeout, 0.001, 300),
          /** ~320 bytes a (source, port) record with its host bitmap and sample. */
          max_sources: int(16, 4194304, 32768),
        })
        .prefault({}),
      slow_scan: z
        .strictObject({
          enabled: bool(true),
          ports: int(2, 65536, N.slow_scan.ports),
          /** Up to 24 hours. */
          window: duration(N.slow_scan.window, 1, DAY),
          /** 0: any span (slow_scan then also reports the fast scans port_scan reports). */
          min_duration: duration(N.slow_scan.min_duration, 0, DAY),
          failure_ratio: ratio(N.slow_scan.failure_ratio),
          /** The cap on the detector's tables: 16 MiB tracks about 78,000 source/target pairs. */
          memory: size('16MiB'),
        })
        .superRefine(
          ...across((s) =>
            typeof s.min_duration === 'number' && typeof s.window === 'number' && s.min_duration > s.window
              ? [{ path: ['min_duration'], message: `min_duration (${formatDuration(s.min_duration)}) is longer than window (${formatDuration(s.window)}): no scan could be slow` }]
              : [],
          ),
        )
        .prefault({}),
      os_fingerprint: z
        .strictObject({
          enabled: bool(true),
          probes: int(1, 10, N.os_fingerprint.probes),
          window: duration(N.os_fingerprint.window, 1, DAY),
          max_pairs: int(16, 4194304, 4096),
        })
        .prefault({}),
      bad_flags: z
        .strictObject({
          enabled: bool(true),
          /** One packet is enough: no stack sends these. */
          packets: int(1, 1000000, 1),
          window: duration('5m', 1, DAY),
          max_sources: int(16, 4194304, 4096),
        })
        .prefault({}),
      flood: z
        .strictObject({
          enabled: bool(true),
          /** ~3 KiB a victim (buckets and per-kind sketches), allocated up front. */
          max_victims: int(16, 1048576, 4096),
          /** A flood ends after this long under half its threshold. */
          hold: duration('10s', 1, DAY),
          /** How often a flood in progress is reported with its peak. */
          update: duration('30s', 1, DAY),
          /** A flood is over this many times the victim's own baseline rate (and over the floor). */
          baseline_factor: z.number({ error: 'expected a number from 1 to 1000' }).min(1, { error: 'expected a number from 1 to 1000' }).max(1000, { error: 'expected a number from 1 to 1000' }).default(4),
          /** The baseline's time constant. */
          baseline_window: duration('10m', 1, DAY),
          /** A proven source sending at least this share of a flood is banned. */
          ban_share: ratio(0.05),
          /** UDP source ports of amplifiers (DNS, NTP, SNMP, LDAP, SSDP, memcached, chargen, ...). */
          amplifier_ports: z
            .array(z.number().int().min(1).max(65535), { error: 'expected a list of port numbers' })
            .default(() => [...AMPLIFIER_PORTS]),
          thresholds: z
            .strictObject(
              Object.fromEntries(
                (Object.keys(N.flood.thresholds) as (keyof typeof N.flood.thresholds)[]).map((k) => [
                  k,
                  z
                    .strictObject({
                      pps: int(1, 100000000, N.flood.thresholds[k].pps),
                      /** 0: packets only. */
                      mbps: z.number({ error: 'expected megabits a second (0: none)' }).min(0, { error: 'expected megabits a second (0: none)' }).max(1000000).default(N.flood.thresholds[k].mbps),
                    })
                    .prefault({}),
                ]),
              ) as { [K in keyof typeof N.flood.thresholds]: z.ZodPrefault<z.ZodObject<{ pps: z.ZodDefault<z.ZodNumber>; mbps: z.ZodDefault<z.ZodNumber> }, z.core.$strict>> },
            )
            .prefault({}),
        })
        .prefault({}),
      bruteforce: z
        .strictObject({
          enabled: bool(true),
          /** Failed logins from one source to one service within the window (never under 3). */
          failures: int(3, 1000000, N.bruteforce.failures),
          window: duration(N.bruteforce.window, 1, DAY),
          /** Shape-judged services (RDP, TLS-wrapped mail): short, small, similar sessions in the window. */
          sessions: int(3, 1000000, N.bruteforce.sessions),
          session_time: duration('30s', 1, DAY),
          session_bytes: int(64, 1048576, 16384),
          /** Bytes of each direction of a service flow read at most: its login phase. */
          inspect_bytes: int(256, 16777216, 65536),
          /** (source, service) records (~0.3 KiB each with their usernames), allocated up front. */
          max_sources: int(16, 4194304, 16384),
          /** Service flows followed at once through their login phase (~0.1 KiB each). */
          max_flows: int(16, 4194304, 16384),
          /** Ports by service; a service listed here replaces its default ports. */
          services: z
            .strictObject(
              Object.fromEntries(SERVICES.map((s) => [s, z.array(z.number().int().min(1).max(65535), { error: 'expected a list of port numbers' }).default(() => [...SERVICE_PORTS[s]])])) as Record<
                Service,
                z.ZodDefault<z.ZodArray<z.ZodNumber>>
              >,
            )
            .prefault({}),
        })
        .prefault({}),
      syn_rate: z
        .strictObject({
          /** The seed's rule, kept as a baseline: it flags every busy client. */
          enabled: bool(false),
          /** The seed blocked at 3 SYNs. */
          threshold: int(1, 1000000, 3),
          window: duration('60s', 1),
          max_sources: int(16, 16777216, 65536),
        })
        .prefault({}),
    })
    .prefault({}),
  outputs: z
    .strictObject({
      eve: z
        .strictObject({
          enabled: bool(true),
          filename: z.string({ error: 'expected a file path' }).min(1).default('/var/log/palisade/eve.json'),
          types: eventTypes,
        })
        .prefault({}),
      stdout: z
        .strictObject({
          enabled: bool(true),
          /** auto: a human-readable summary on a terminal, EVE JSON lines otherwise. */
          format: z.enum(['auto', 'json', 'human'], { error: 'expected one of: auto, json, human' }).default('auto'),
          types: eventTypes,
        })
        .prefault({}),
    })
    .prefault({}),
  stats: z
    .strictObject({
      /** Packet time between two stats events. */
      interval: duration('30s', 1),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { error: 'expected one of: fatal, error, warn, info, debug, trace' }).default('info'),
    })
    .prefault({}),
}).superRefine(
  ...across((c) =>
    c.trusted_force === true || !Array.isArray(c.trusted)
      ? []
      : c.trusted.flatMap((t: unknown, i) => {
          const all = typeof t === 'string' ? coversEverything(t) : null;
          return all === null
            ? []
            : [{ path: ['trusted', i], message: `${quoted(t)} covers ${all}; set "trusted_force: true" if that is really meant` }];
        }),
  ),
);

export type Config = z.output<typeof configSchema>;
