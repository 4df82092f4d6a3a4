// Anti-lockout: the addresses no ban may ever cover, whatever a detector, feed or operator says:
// configured trusted networks, loopback, the host's own addresses, its default gateways, the
// client of the SSH session Palisade was started from, and sources that are not unicast hosts.

import { Cidr, type CidrSet, type IpAddr } from '../core/addr.js';

/** What the host knows about itself; gathered outside decide (pipeline/host.ts) and refreshed. */
export interface HostFacts {
  addresses: readonly IpAddr[];
  gateways: readonly IpAddr[];
  /** The client address in SSH_CONNECTION, when started from an SSH session. */
  sshClient: IpAddr | null;
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
    this.host = host;
  }

  /** Why `scope` must not be banned (it overlaps a protected address), or null when it may be. */
  why(scope: Cidr): string | null {
    for (const e of this.fixed) if (e.cidr.overlaps(scope)) return e.why;
    for (const e of this.host) if (e.cidr.overlaps(scope)) return e.why;
    return null;
  }

  /** Every protected prefix with its reason, for `palisade status`. */
  list(): { cidr: string; why: string }[] {
    return [...this.fixed, ...this.host].map((e) => ({ cidr: e.cidr.toString(), why: e.why }));
  }
}
