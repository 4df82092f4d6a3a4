// Anti-lockout: the addresses no ban may ever cover, whatever a detector, feed or operator says:
// configured trusted networks, loopback, the host's own addresses, its default gateways, the
// client of the SSH session Palisade was started from, the peers of SSH sessions to the local
// sshd, and sources that are not unicast hosts. A detector's ban scope that would hold one of
// them is narrowed around the source to leave it out (`scopeFor`).

import { Cidr, type CidrSet, type IpAddr } from '../core/addr.js';

/** What the host knows about itself; gathered outside decide (pipeline/host.ts) and refreshed. */
export interface HostFacts {
  addresses: readonly IpAddr[];
  gateways: readonly IpAddr[];
  /** The client address in SSH_CONNECTION, when started from an SSH session. */
  sshClient: IpAddr | null;
  /** The peers of established connections to the local sshd (from /proc/net/tcp and tcp6). */
  sshPeers: readonly IpAddr[];
}

/** The scope a ban on a source may take (`Protected.scopeFor`). */
export interface ScopeChoice {
  /** The prefix to ban; null when the source itself is protected. */
  scope: Cidr | null;
  /** The configured prefix, when it held protected addresses and `scope` is narrower; else null. */
  narrowedFrom: Cidr | null;
  /** Why the source is protected (scope null), or what the narrowing left out; else null. */
  why: string | null;
}

/** How many protected entries a narrowing reason names before "and N more". */
const NAMED = 3;

/** Leading bits `a` shares with `b`'s words (0..128), in the 128-bit mapped space. */
function commonBits(a: IpAddr, b: IpAddr): number {
  const x = [a.w0 ^ b.w0, a.w1 ^ b.w1, a.w2 ^ b.w2, a.w3 ^ b.w3];
  for (let i = 0; i < 4; i++) if (x[i] !== 0) return i * 32 + Math.clz32(x[i]!);
  return 128;
}

interface Entry {
  cidr: Cidr;
  why: string;
}

/** Never sources of an attack worth a ban: blocking them breaks DHCP, multicast or nothing. */
const NOT_UNICAST: readonly [string, string][] = [
  ['0.0.0.0/32', 'unspecified address'],
  ['::/128', 'unspecified address'],
  ['224.0.0.0/4', 'multicast address'],
  ['255.255.255.255/32', 'broadcast address'],
  ['ff00::/8', 'multicast address'],
];

export class Protected {
  private readonly fixed: Entry[] = [];
  private host: Entry[] = [];

  constructor(trusted: CidrSet) {
    for (const c of trusted.entries) {
      const loop = c.toString() === '127.0.0.0/8' || c.toString() === '::1/128';
      this.fixed.push({ cidr: c, why: loop ? `loopback ${c.toString()}` : `trusted ${c.toString()}` });
    }
    for (const [text, why] of NOT_UNICAST) this.fixed.push({ cidr: Cidr.parse(text)!, why });
  }

  /** Replaces the host's own facts (addresses change: DHCP, new interfaces). */
  setHost(f: HostFacts): void {
    const host: Entry[] = [];
    const hostCidr = (a: IpAddr): Cidr => new Cidr(a, a.v6 ? 128 : 32);
    for (const a of f.addresses) host.push({ cidr: hostCidr(a), why: `own address ${a.toString()}` });
    for (const a of f.gateways) host.push({ cidr: hostCidr(a), why: `default gateway ${a.toString()}` });
    if (f.sshClient) host.push({ cidr: hostCidr(f.sshClient), why: `SSH client ${f.sshClient.toString()}` });
    for (const a of f.sshPeers ?? []) host.push({ cidr: hostCidr(a), why: `SSH session from ${a.toString()}` });
    this.host = host;
  }

  /** Why `scope` must not be banned (it overlaps a protected address), or null when it may be. */
  why(scope: Cidr): string | null {
    for (const e of this.fixed) if (e.cidr.overlaps(scope)) return e.why;
    for (const e of this.host) if (e.cidr.overlaps(scope)) return e.why;
    return null;
  }

  /**
   * The scope a detector's ban on `src` takes: its configured `prefix` (family terms: /64, /32)
   * when that holds no protected address (one `why()`, the usual case); else the widest prefix
   * around `src` that holds none, down to the host prefix; null when `src` itself is protected.
   */
  scopeFor(src: IpAddr, prefix: number): ScopeChoice {
    const wide = Cidr.of(src, prefix);
    if (this.why(wide) === null) return { scope: wide, narrowedFrom: null, why: null };
    // A prefix of `bits` around src holds an entry not holding src exactly when bits <= the
    // bits they share, so the widest free prefix is one bit longer than the longest shared run.
    let bits = wide.bits;
    const inside: string[] = [];
    for (const e of [...this.fixed, ...this.host]) {
      if (e.cidr.contains(src.w0, src.w1, src.w2, src.w3)) return { scope: null, narrowedFrom: null, why: e.why };
      if (!e.cidr.overlaps(wide)) continue;
      bits = Math.max(bits, commonBits(src, e.cidr.addr) + 1);
      inside.push(e.why);
    }
    const named = inside.slice(0, NAMED).join(', ') + (inside.length > NAMED ? ` and ${inside.length - NAMED} more` : '');
    return { scope: Cidr.of(src, src.v6 ? bits : bits - 96), narrowedFrom: wide, why: named };
  }

  /** Every protected prefix with its reason, for `palisade status`. */
  list(): { cidr: string; why: string }[] {
    return [...this.fixed, ...this.host].map((e) => ({ cidr: e.cidr.toString(), why: e.why }));
  }
}
