// The host's own facts for anti-lockout (decide/protect.ts): its addresses (from the kernel's
// local routes and IPv6 address list, so an interface that is down or has no carrier still
// counts), its default gateways (IPv4 and IPv6, from /proc/net/route and /proc/net/ipv6_route)
// and the client of the SSH session Palisade was started from (SSH_CONNECTION). Read at start
// and refreshed periodically.

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { IpAddr } from '../core/addr.js';
import { defaultRoutesV4, defaultRoutesV6 } from '../capture/interfaces.js';
import type { HostFacts } from '../decide/protect.js';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Local IPv4 addresses in /proc/net/fib_trie text: the leaves marked "/32 host LOCAL". */
export function localV4(text: string): IpAddr[] {
  const out = new Map<string, IpAddr>();
  let last: string | null = null;
  for (const line of text.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line.trimEnd());
    if (leaf) last = leaf[1]!;
    else if (last && /\/32 host LOCAL/.test(line)) {
      const a = IpAddr.parse(last);
      if (a) out.set(last, a);
    }
  }
  return [...out.values()];
}

/** IPv6 addresses in /proc/net/if_inet6 text (32 hex digits first on each line). */
export function localV6(text: string): IpAddr[] {
  const out: IpAddr[] = [];
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]{32})\s/.exec(line)?.[1];
    if (!h) continue;
    const w = (i: number): number => parseInt(h.slice(i * 8, i * 8 + 8), 16);
    out.push(new IpAddr(true, w(0), w(1), w(2), w(3)));
  }
  return out;
}

/** The SSH client's address from SSH_CONNECTION ("client port server port"), or null. */
export function sshClient(env: NodeJS.ProcessEnv = process.env): IpAddr | null {
  const v = env.SSH_CONNECTION ?? env.SSH_CLIENT;
  if (!v) return null;
  const first = v.trim().split(/\s+/)[0] ?? '';
  return IpAddr.parse(first.replace(/%.*$/, ''));
}

export function hostFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  const found = new Map<string, IpAddr>();
  const add = (a: IpAddr): void => void found.set(a.toString(), a);
  localV4(readText('/proc/net/fib_trie')).forEach(add);
  localV6(readText('/proc/net/if_inet6')).forEach(add);
  // What libuv sees too (it lists only interfaces that are up and running).
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = IpAddr.parse(a.address.replace(/%.*$/, ''));
      if (ip) add(ip);
    }
  }
  const addresses = [...found.values()];
  const gateways: IpAddr[] = [];
  for (const r of [...defaultRoutesV4(readText('/proc/net/route')), ...defaultRoutesV6(readText('/proc/net/ipv6_route'))]) {
    const g = r.gateway === null ? null : IpAddr.parse(r.gateway);
    if (g) gateways.push(g);
  }
  return { addresses, gateways, sshClient: sshClient(env) };
}
