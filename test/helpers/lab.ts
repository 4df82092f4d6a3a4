// A protected host in network namespaces, for the tests that run the real daemon against the real
// kernel firewall: a victim namespace whose bridge joins an attacker and a benign namespace, HTTP
// services on the victim, the daemon started under `ip netns exec`, and the CLI beside it. Every
// namespace and child process is removed when the test ends. Needs root, iproute2, nmap, curl.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { CLI, sh, tempDir, type CliResult } from './cli.js';
import { must, waitFor, withNamespaces } from './netns.js';

export interface Net {
  v6: boolean;
  ns: { v: string; a: string; b: string };
  /** The attacker side's interface (in ns.a), for nmap -e. */
  attackerIf: string;
  victim: string;
  attacker: string;
  benign: string;
  /** The victim's default gateway, held by the benign namespace so that replies reach it. */
  gateway: string;
  trusted: string;
  /** More attacker addresses (in ns.a). */
  extra: string[];
  /** More benign addresses (in ns.b). */
  neighbours: string[];
  /** The prefix length of the shared link. */
  bits: number;
}

/**
 * The addresses of a lab on 198.18.<third>.0/24, or with `v6` on 2001:db8:<third>::/64 (the
 * victim ::10, the attacker ::66, benign ::20 and ::77); `tag` keeps namespace names apart.
 */
export function net(tag: string, third: number, v6 = false): Net {
  const id = process.pid % 100000;
  const ns = { v: `pal-${tag}v-${id}`, a: `pal-${tag}a-${id}`, b: `pal-${tag}b-${id}` };
  if (v6) {
    const p = `2001:db8:${third}::`;
    return { v6, ns, attackerIf: `p${tag}a${id}`, victim: `${p}10`, attacker: `${p}66`, benign: `${p}20`, gateway: `${p}1`, trusted: '2001:db8:ffff::30', extra: [], neighbours: [`${p}77`], bits: 64 };
  }
  const p = `198.18.${third}`;
  return {
    v6,
    ns,
    attackerIf: `p${tag}a${id}`,
    victim: `${p}.2`,
    attacker: `${p}.11`,
    benign: `${p}.3`,
    gateway: `${p}.254`,
    trusted: `${p}.30`,
    extra: [12, 13, 14, 15, 16, 17, 18, 19].map((n) => `${p}.${n}`),
    neighbours: [],
    bits: 24,
  };
}

function setUp(n: Net, tag: string): void {
  const id = process.pid % 100000;
  // IPv4 labs have no IPv6 at all (no router solicitations, DAD or MLD to see); IPv6 labs skip DAD.
  const sysctl = n.v6
    ? 'net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0'
    : 'net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1';
  const nodad = n.v6 ? ' nodad' : '';
  for (const ns of Object.values(n.ns)) {
    must(`ip netns add ${ns}`);
    must(`ip netns exec ${ns} sysctl -qw ${sysctl}`);
    must(`ip -n ${ns} link set lo up`);
  }
  must(`ip -n ${n.ns.v} link add br0 type bridge`);
  for (const [side, ns] of [
    ['a', n.ns.a],
    ['b', n.ns.b],
  ] as const) {
    must(`ip link add p${tag}${side}${id} netns ${ns} type veth peer name pv${side} netns ${n.ns.v}`);
    must(`ip -n ${n.ns.v} link set pv${side} master br0 up`);
    must(`ip -n ${ns} link set p${tag}${side}${id} up`);
  }
  must(`ip -n ${n.ns.v} addr add ${n.victim}/${n.bits} dev br0${nodad}`);
  must(`ip -n ${n.ns.v} link set br0 up`);
  if (!n.v6) must(`ip -n ${n.ns.v} route add default via ${n.gateway}`);
  for (const a of [n.attacker, n.trusted, ...n.extra]) must(`ip -n ${n.ns.a} addr add ${a}/${n.bits} dev p${tag}a${id}${nodad}`);
  for (const a of [n.benign, ...(n.v6 ? [] : [n.gateway]), ...n.neighbours]) must(`ip -n ${n.ns.b} addr add ${a}/${n.bits} dev p${tag}b${id}${nodad}`);
}

const SERVER = (victim: string): string => `
const http = require('node:http');
for (const port of [22, 80, 8080]) http.createServer((q, r) => r.end('ok\\n')).listen(port, '${victim}');
setTimeout(() => console.log('ready'), 100);
`;

export interface Lab {
  n: Net;
  dir: string;
  cfg: string;
  eve: string;
  db: string;
  sock: string;
  /** Starts `palisade run` on the victim's bridge; resolves once capture has started. */
  start(extraEnv?: NodeJS.ProcessEnv, extraArgs?: string[], prefix?: string[]): Promise<ChildProcess>;
  /** The stderr (operational log) of a daemon started by `start`, so far. */
  log(p: ChildProcess): string;
  cli(args: string[], env?: string): CliResult;
  inNs(ns: string, cmd: string, timeout?: number): CliResult;
  connects(ns: string, src: string): boolean;
  nmapSyn(src: string, ports?: string): void;
  /** The text of an nftables set in the victim namespace. */
  nftSet(set?: string): string;
  /** Children killed when the test ends. */
  children: ChildProcess[];
}

/**
 * Builds the lab and writes its config: EVE, state and control socket in a temp dir, the given
 * backend, fast retries, a 30 s port-scan window, then `extra` YAML appended.
 */
export async function lab(t: TestContext, tag: string, third: number, backend: string, extra = '', v6 = false): Promise<Lab> {
  const n = net(tag, third, v6);
  const dir = tempDir(t);
  const children = withNamespaces(
    t,
    () => setUp(n, tag),
    () => {
      for (const ns of Object.values(n.ns)) sh(`ip netns del ${ns}`);
    },
  );
  const server = spawn('ip', ['netns', 'exec', n.ns.v, process.execPath, '-e', SERVER(n.victim)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(server);
  await waitFor(server, 'stdout', /ready/, 10000);
  const eve = join(dir, 'eve.json');
  const cfg = join(dir, 'palisade.yaml');
  const db = join(dir, 'state.db');
  const sock = join(dir, 'palisade.sock');
  const logs = new Map<ChildProcess, string>();
  writeFileSync(
    cfg,
    `trusted: [${n.trusted}/${n.v6 ? 128 : 32}]\n` +
      `outputs:\n  eve:\n    filename: ${eve}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
      `state:\n  path: ${db}\ncontrol:\n  socket: ${sock}\n` +
      `enforce:\n  backend: ${backend}\n  retry_initial: 500ms\n  retry_max: 1s\n` +
      'detect:\n  port_scan:\n    window: 30s\n' +
      extra,
  );
  const inNs = (ns: string, cmd: string, timeout?: number): CliResult => sh(`ip netns exec ${ns} ${cmd}`, timeout);
  return {
    n,
    dir,
    cfg,
    eve,
    db,
    sock,
    children,
    async start(extraEnv = {}, extraArgs = [], prefix = []) {
      const argv = [...prefix, 'ip', 'netns', 'exec', n.ns.v, process.execPath, CLI, 'run', '-i', 'br0', '-c', cfg, ...extraArgs];
      const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_CONNECTION: '', ...extraEnv } });
      children.push(p);
      logs.set(p, '');
      p.stderr!.on('data', (d) => logs.set(p, logs.get(p) + String(d)));
      await waitFor(p, 'stderr', /"msg":"capture started"/, 30000);
      return p;
    },
    log: (p) => logs.get(p) ?? '',
    cli: (args, env = '') => inNs(n.ns.v, `env ${env} ${process.execPath} ${CLI} ${args.join(' ')} -c ${cfg}`),
    inNs,
    connects: (ns, src) => inNs(ns, `curl -s -g -m 2 --interface ${src} http://${n.v6 ? `[${n.victim}]` : n.victim}:8080/`).stdout.includes('ok'),
    nmapSyn(src, ports = '1-200') {
      const r = inNs(n.ns.a, `nmap ${n.v6 ? '-6 ' : ''}-n -Pn -sS -e ${n.attackerIf} -S ${src} --max-retries 1 -p ${ports} ${n.victim}`);
      assert.equal(r.code, 0, r.stderr);
    },
    nftSet: (set = 'ban4') => inNs(n.ns.v, `nft list set inet palisade ${set}`).stdout,
  };
}

/** Polls `f` every 200 ms until it holds, failing the test after `ms`. */
export async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out after ${ms} ms waiting for: ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
