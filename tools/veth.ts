// Two new network namespaces joined by a veth pair, IPv6 off (no router solicitations, DAD or MLD
// reports: only the traffic a test or benchmark sends). Used by the live capture test and the live
// capture benchmark; `removeNamespaces` deletes them (it never throws).

import { execFileSync } from 'node:child_process';

export interface VethPair {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  /** Addresses with their prefix, e.g. 198.18.10.1/24. */
  addrA: string;
  addrB: string;
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

export function vethPair(p: VethPair): void {
  ip('netns', 'add', p.nsA);
  ip('netns', 'add', p.nsB);
  for (const ns of [p.nsA, p.nsB]) {
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('link', 'add', p.ifA, 'netns', p.nsA, 'type', 'veth', 'peer', 'name', p.ifB, 'netns', p.nsB);
  ip('-n', p.nsA, 'addr', 'add', p.addrA, 'dev', p.ifA);
  ip('-n', p.nsB, 'addr', 'add', p.addrB, 'dev', p.ifB);
  ip('-n', p.nsA, 'link', 'set', p.ifA, 'up');
  ip('-n', p.nsB, 'link', 'set', p.ifB, 'up');
}

export function removeNamespaces(...names: string[]): void {
  for (const ns of names) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  }
}
