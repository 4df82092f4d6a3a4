// Host network facts read from /proc: the default-route interface (where `palisade run` listens
// when no interface is named) and the default gateways (never banned: pipeline/host.ts).

import { readFileSync } from 'node:fs';
import { IpAddr } from '../core/addr.js';

export interface DefaultRoute {
  iface: string;
  /** Gateway address text, or null for a directly connected default route. */
  gateway: string | null;
  family: 4 | 6;
}

function hexToIPv4LE(hex: string): string {
  const v = parseInt(hex, 16) >>> 0;
  return `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}`;
}

/** Every IPv4 default route in /proc/net/route text, with its metric. */
export function defaultRoutesV4(text: string): (DefaultRoute & { metric: number })[] {
  const out: (DefaultRoute & { metric: number })[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flags, , , metric, mask] = f as [string, string, string, string, string, string, string, string];
    if (dest !== '00000000' || mask !== '00000000') continue;
    if ((parseInt(flags, 16) & 1) === 0) continue; // RTF_UP
    out.push({ iface, gateway: gw === '00000000' ? null : hexToIPv4LE(gw), family: 4, metric: parseInt(metric, 10) });
  }
  return out;
}

/** Every IPv6 default route (::/0) in /proc/net/ipv6_route text, with its metric. */
export function defaultRoutesV6(text: string): (DefaultRoute & { metric: number })[] {
  const out: (DefaultRoute & { metric: number })[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, plen, , , gw, metric, , , , iface] = f as string[];
    if (dest !== '0'.repeat(32) || plen !== '00' || iface === 'lo') continue;
    const gateway = gw === '0'.repeat(32) ? null : (IpAddr.parse(gw!.match(/.{4}/g)!.join(':'))?.toString() ?? null);
    out.push({ iface: iface!, gateway, family: 6, metric: parseInt(metric!, 16) });
  }
  return out;
}

function lowestMetric(routes: (DefaultRoute & { metric: number })[]): DefaultRoute | null {
  let best: (DefaultRoute & { metric: number }) | null = null;
  for (const r of routes) if (best === null || r.metric < best.metric) best = r;
  return best ? { iface: best.iface, gateway: best.gateway, family: best.family } : null;
}

/** Parses /proc/net/route text: the IPv4 default route with the lowest metric. */
export function parseRouteV4(text: string): DefaultRoute | null {
  return lowestMetric(defaultRoutesV4(text));
}

/** Parses /proc/net/ipv6_route text: the IPv6 default route with the lowest metric. */
export function parseRouteV6(text: string): DefaultRoute | null {
  return lowestMetric(defaultRoutesV6(text));
}

/** The default route (IPv4 preferred), or null when the host has none. */
export function defaultRoute(procNet = '/proc/net'): DefaultRoute | null {
  const read = (f: string): string => {
    try {
      return readFileSync(`${procNet}/${f}`, 'utf8');
    } catch {
      return '';
    }
  };
  return parseRouteV4(read('route')) ?? parseRouteV6(read('ipv6_route'));
}
