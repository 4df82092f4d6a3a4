// Kernel-side flood mitigation: when a flood with spoofed sources hits a protected host, banning
// its sources is useless (they are random), so a `Mitigator` adds rate limits (and drops, and
// optionally a SYN proxy) for the victim in Palisade's own firewall objects, and withdraws them
// when the flood ends. One Mitigator per backend: nftables (chains in `table inet <name>`, see
// mitigation-nft.ts), ipset and iptables (chains `<name>-mit` and one per mitigation, with
// iptables/ip6tables, see mitigation-ipt.ts), dry-run (records only). Every apply and withdraw is
// one atomic tool transaction; a failure throws PAL_ERR_FIREWALL and leaves the rules as they were.
// Known-good clients: sources that completed a TCP handshake with a protected host recently are
// learnt by the kernel into a set of ours (from init() on, before any flood) and exempt from the
// new-connection limits of syn_flood, ack_flood and udp_flood (a blind spoofer never completes a
// handshake). Design, rules and recommended rates: docs/mitigation.md.

import { createHash } from 'node:crypto';
import { IpAddr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import { AMPLIFIER_PORTS, FLOOD_KINDS, type FloodKind } from '../core/kinds.js';
import { runTool, type ToolResult } from './backend.js';
import { NftMitigation } from './mitigation-nft.js';
import { IptMitigation } from './mitigation-ipt.js';

/** Every flood kind can be asked for (a backend may still refuse one: `supported()`). */
export type MitigationKind = FloodKind;
export const MITIGATION_KINDS: readonly MitigationKind[] = FLOOD_KINDS;

export interface MitigationSpec {
  /** Stable key, e.g. `${kind}:${victim}:${port}`; applying an id again updates it. */
  id: string;
  kind: MitigationKind;
  /** The host under attack: an IPv4 or IPv6 address (text). */
  victim: string;
  /**
   * The victim's port where it applies (syn_flood, udp_flood; optional for ack_flood, rst_flood,
   * synack_reflection, udp_amplification), else null (all ports). Never for icmp_flood, frag_flood.
   */
  port: number | null;
  /**
   * Packets per second let through (per victim[/port]) before the limit drops; 0: drop them all.
   * Unused by udp_amplification (always a plain drop) and synproxy.
   */
  rate: number;
  /** Packets let through at once above the rate (at least 1 when the rate is not 0). */
  burst: number;
  /** udp_amplification: source ports whose unsolicited UDP to the victim is dropped (default DEFAULT_AMPLIFIER_PORTS). */
  amplifierPorts?: number[];
  /** syn_flood (nftables only, needs a port and net.netfilter.nf_conntrack_tcp_loose=0): a SYN proxy instead of the rate limit. */
  synproxy?: boolean;
}

/** Amplifier source ports dropped when a spec names none: the same list as `detect.flood.amplifier_ports`' default. */
export const DEFAULT_AMPLIFIER_PORTS: readonly number[] = AMPLIFIER_PORTS;

export type MitigationBackendName = 'nftables' | 'ipset' | 'iptables' | 'dry-run';
export type ToolRunner = (cmd: string, args: readonly string[], input?: string) => Promise<ToolResult>;
export type Support = { ok: true } | { ok: false; reason: string };

/** A validated spec: the victim in canonical text, its family, the amplifier ports filled in. */
export interface Mitigation extends MitigationSpec {
  v6: boolean;
  /** A stable tag for object names: hex of sha256(name, id). */
  tag: string;
}

/**
 * The known-good clients sets: how long a client stays known after its last new connection, and
 * how many clients each family's set holds (a full set learns no more until entries expire; packets
 * are never failed for it). IPv6 clients are keyed by their /64.
 */
export interface KnownGoodOptions {
  /** Seconds (default 3600). */
  timeout?: number;
  /** Entries per family (default 65536). */
  size?: number;
}

/** Normalised known-good settings; null: off. */
export type KnownGood = { timeout: number; size: number } | null;

export const KNOWN_GOOD_DEFAULTS: { readonly timeout: number; readonly size: number } = { timeout: 3600, size: 65536 };

/** The kinds whose limits known-good clients skip (syn_flood with the rate limit; synproxy lets every real client through anyway). */
export const KNOWN_GOOD_KINDS: ReadonlySet<MitigationKind> = new Set(['syn_flood', 'ack_flood', 'udp_flood']);

/** Whether mitigation `m` exempts known-good clients (when the sets are on). */
export const exemptsKnownGood = (m: Pick<Mitigation, 'kind' | 'synproxy'>): boolean => KNOWN_GOOD_KINDS.has(m.kind) && m.synproxy !== true;

/** Checks `knownGood` options; throws PAL_ERR_FIREWALL naming what is wrong. */
export function validateKnownGood(o: KnownGoodOptions | false | undefined): KnownGood {
  if (o === false) return null;
  if (o === undefined) return { ...KNOWN_GOOD_DEFAULTS };
  if (!o || typeof o !== 'object') throw fail('mitigation: knownGood must be false or { timeout, size }');
  const timeout = o.timeout ?? KNOWN_GOOD_DEFAULTS.timeout;
  const size = o.size ?? KNOWN_GOOD_DEFAULTS.size;
  // 2147483 s: ipset's largest timeout (~24.8 d).
  if (!isInt(timeout, 1, 2147483)) throw fail(`mitigation: knownGood.timeout ${JSON.stringify(o.timeout)} is not a whole number of seconds in 1..2147483`);
  if (!isInt(size, 1, 16777216)) throw fail(`mitigation: knownGood.size ${JSON.stringify(o.size)} is not a whole number in 1..16777216`);
  return { timeout, size };
}

/** What a backend's driver does; the Mitigator validates, serialises and keeps the books. */
export interface MitigationDriver {
  supported(kind: MitigationKind, synproxy: boolean): Support;
  /** Removes every object of ours found, recreates the base objects and `active`, in one transaction. */
  init(active: readonly Mitigation[]): Promise<void>;
  /** Adds `m`, or replaces `prev` (same id) with it, in one transaction. */
  apply(m: Mitigation, prev: Mitigation | undefined): Promise<void>;
  withdraw(m: Mitigation): Promise<void>;
  /** Removes every object of ours (base objects included). */
  shutdown(): Promise<void>;
  /** Packets and bytes counted by each mitigation's rules (drops; synproxy: packets it handled), by id. */
  counters(active: readonly Mitigation[]): Promise<Record<string, { packets: number; bytes: number }>>;
  /** Why the known-good sets are off although asked for (e.g. no ipset tool), else null. */
  readonly knownGoodOff: string | null;
}

export interface MitigatorOptions {
  backend: MitigationBackendName;
  /** enforce.name: the nftables table, the iptables chain prefix. */
  name: string;
  /** Runs a firewall tool (default `runTool`); tests pass one that runs it in a network namespace. */
  run?: ToolRunner;
  /**
   * The known-good clients sets (default on: 1 h, 65536 entries per family); false: off (the
   * limits then apply to every source).
   */
  knownGood?: KnownGoodOptions | false;
}

const fail = (msg: string): PalisadeError => new PalisadeError('PAL_ERR_FIREWALL', msg);

const isInt = (n: unknown, lo: number, hi: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;

/** Kinds for which `port` means the victim's destination port. */
const PORT_OK: ReadonlySet<MitigationKind> = new Set(['syn_flood', 'udp_flood', 'ack_flood', 'rst_flood', 'synack_reflection', 'udp_amplification']);

/** Checks a spec and returns it normalised; throws PAL_ERR_FIREWALL naming what is wrong. */
export function validateSpec(spec: MitigationSpec, name = 'palisade'): Mitigation {
  const s = spec as Partial<MitigationSpec> | null | undefined;
  if (!s || typeof s !== 'object') throw fail('mitigation: not an object');
  const id = s.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\x00-\x1f\x7f]/.test(id)) throw fail(`mitigation: bad id ${JSON.stringify(id)} (1 to 256 printable characters)`);
  const what = `mitigation ${id}`;
  if (!MITIGATION_KINDS.includes(s.kind as MitigationKind)) throw fail(`${what}: unknown kind ${JSON.stringify(s.kind)}`);
  const kind = s.kind as MitigationKind;
  const addr = typeof s.victim === 'string' && !s.victim.includes('/') ? IpAddr.parse(s.victim.trim()) : null;
  if (!addr) throw fail(`${what}: victim ${JSON.stringify(s.victim)} is not an IPv4 or IPv6 address`);
  const port = s.port ?? null;
  if (port !== null) {
    if (!isInt(port, 1, 65535)) throw fail(`${what}: port ${JSON.stringify(port)} is not in 1..65535`);
    if (!PORT_OK.has(kind)) throw fail(`${what}: a port does not apply to ${kind}`);
  }
  const amp = kind === 'udp_amplification';
  // Rate 0: a plain drop (no limit), as udp_amplification always is; its rate and burst may be left out.
  if (!(amp && s.rate === undefined) && !isInt(s.rate, 0, 1e9)) throw fail(`${what}: rate ${JSON.stringify(s.rate)} is not a whole number of packets/s in 0..1e9`);
  const limited = !amp && s.synproxy !== true && s.rate !== 0;
  if (!(amp && s.burst === undefined) && !isInt(s.burst, limited ? 1 : 0, 1e9))
    throw fail(`${what}: burst ${JSON.stringify(s.burst)} is not a whole number of packets in ${limited ? 1 : 0}..1e9`);
  let amplifierPorts: number[] | undefined;
  if (amp) {
    const list = s.amplifierPorts ?? DEFAULT_AMPLIFIER_PORTS;
    if (!Array.isArray(list) || list.length === 0 || list.length > 256 || !list.every((p) => isInt(p, 1, 65535)))
      throw fail(`${what}: amplifierPorts must be 1 to 256 ports in 1..65535`);
    amplifierPorts = [...new Set(list)].sort((a, b) => a - b);
  } else if (s.amplifierPorts !== undefined) throw fail(`${what}: amplifierPorts only apply to udp_amplification`);
  const synproxy = s.synproxy === true;
  if (s.synproxy !== undefined && typeof s.synproxy !== 'boolean') throw fail(`${what}: synproxy must be true or false`);
  if (synproxy) {
    if (kind !== 'syn_flood') throw fail(`${what}: synproxy only applies to syn_flood`);
    if (port === null) throw fail(`${what}: synproxy needs a port (it would answer SYNs to every port, closed ones too)`);
  }
  const tag = createHash('sha256').update(`${name}\0${id}`).digest('hex');
  const out: Mitigation = { id, kind, victim: addr.toString(), port, rate: s.rate ?? 0, burst: s.burst ?? 0, v6: addr.v6, tag };
  if (amplifierPorts) out.amplifierPorts = amplifierPorts;
  if (synproxy) out.synproxy = true;
  return out;
}

/** The public view of a mitigation (what was asked, normalised). */
function publicSpec(m: Mitigation): MitigationSpec {
  const { v6: _v6, tag: _tag, ...spec } = m;
  return { ...spec, ...(m.amplifierPorts ? { amplifierPorts: [...m.amplifierPorts] } : {}) };
}

/** Dry-run: records what it would do, changes nothing. */
class DryRunMitigation implements MitigationDriver {
  readonly knownGoodOff = null;
  supported(): Support {
    return { ok: true };
  }
  async init(): Promise<void> {}
  async apply(): Promise<void> {}
  async withdraw(): Promise<void> {}
  async shutdown(): Promise<void> {}
  async counters(): Promise<Record<string, { packets: number; bytes: number }>> {
    return {};
  }
}

export class Mitigator {
  readonly backend: MitigationBackendName;
  private readonly driver: MitigationDriver;
  private readonly name: string;
  private readonly good: KnownGood;
  private readonly live = new Map<string, Mitigation>();
  private readonly m = { applied: 0, withdrawn: 0, failures: 0, lastError: null as string | null };
  /** Operations run one at a time, in call order: each transaction is built from the state the previous one left. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: MitigatorOptions) {
    const run = opts.run ?? ((cmd: string, args: readonly string[], input = '') => runTool(cmd, args, input));
    this.backend = opts.backend;
    this.name = opts.name;
    this.good = validateKnownGood(opts.knownGood);
    switch (opts.backend) {
      case 'nftables':
        this.driver = new NftMitigation(opts.name, run, this.good);
        break;
      case 'ipset':
      case 'iptables':
        this.driver = new IptMitigation(opts.name, run, this.good);
        break;
      case 'dry-run':
        this.driver = new DryRunMitigation();
        break;
      default:
        throw fail(`mitigation: unknown backend ${JSON.stringify(opts.backend)}`);
    }
  }

  /** Whether this backend can mitigate `kind` (with `synproxy`: the SYN proxy variant of syn_flood). */
  supported(kind: MitigationKind, opts: { synproxy?: boolean } = {}): Support {
    if (!MITIGATION_KINDS.includes(kind)) return { ok: false, reason: `unknown kind ${JSON.stringify(kind)}` };
    return this.driver.supported(kind, opts.synproxy === true);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f, f);
    this.chain = p.catch(() => {});
    return p;
  }

  private failed(e: unknown): never {
    this.m.failures++;
    const err = e instanceof PalisadeError ? e : fail(`mitigation: ${(e as Error)?.message ?? String(e)}`);
    this.m.lastError = err.message;
    throw err;
  }

  /**
   * Creates the base objects (idempotent) and removes every mitigation found in the firewall that
   * this instance did not apply: a restart starts clean. Mitigations this instance holds are
   * written again (init after a failure restores them).
   */
  init(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.driver.init([...this.live.values()]);
      } catch (e) {
        this.failed(e);
      }
    });
  }

  /** Adds a mitigation, or updates the one with the same id; one atomic transaction. */
  apply(spec: MitigationSpec): Promise<void> {
    return this.serial(async () => {
      try {
        const m = validateSpec(spec, this.name);
        const s = this.driver.supported(m.kind, m.synproxy === true);
        if (!s.ok) throw fail(`mitigation ${m.id}: ${m.kind}${m.synproxy ? ' (synproxy)' : ''} is not supported by ${this.backend}: ${s.reason}`);
        await this.driver.apply(m, this.live.get(m.id));
        this.live.set(m.id, m);
        this.m.applied++;
      } catch (e) {
        this.failed(e);
      }
    });
  }

  /** Removes a mitigation's rules (and only them); unknown ids are a no-op. */
  withdraw(id: string): Promise<void> {
    return this.serial(async () => {
      const m = this.live.get(id);
      if (!m) return;
      try {
        await this.driver.withdraw(m);
        this.live.delete(id);
        this.m.withdrawn++;
      } catch (e) {
        this.failed(e);
      }
    });
  }

  /** The mitigations in force, oldest first. */
  active(): MitigationSpec[] {
    return [...this.live.values()].map(publicSpec);
  }

  /** Withdraws everything and removes the base objects. */
  shutdown(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.driver.shutdown();
        this.m.withdrawn += this.live.size;
        this.live.clear();
      } catch (e) {
        this.failed(e);
      }
    });
  }

  /** Packets and bytes each active mitigation's rules counted (dropped; synproxy: handled), by id. */
  counters(): Promise<Record<string, { packets: number; bytes: number }>> {
    return this.serial(() => this.driver.counters([...this.live.values()]));
  }

  /**
   * The known-good clients sets: on (with their timeout and size) or off, and why when they were
   * asked for but the backend cannot have them (iptables without the ipset tool).
   */
  knownGood(): { enabled: boolean; timeout: number; size: number; reason: string | null } {
    const off = this.good ? this.driver.knownGoodOff : 'off in the options';
    const g = this.good ?? KNOWN_GOOD_DEFAULTS;
    return { enabled: off === null, timeout: g.timeout, size: g.size, reason: off };
  }

  metrics(): { applied: number; withdrawn: number; failures: number; lastError: string | null; active: number } {
    return { ...this.m, active: this.live.size };
  }
}
