// The scan detectors end to end: real nmap and masscan in an attacker namespace against a victim
// namespace (198.18.30.0/24, services on 22, 80, 443, 8080 and DNS on 53), with `palisade run`
// live on the victim's interface. Every scan type comes from its own source address, so each
// verdict is checked by source. Normal clients (wrk with 50 connections, a client of 4 services,
// repeated DNS queries) run first, from the primary address, and must raise nothing. A sweep goes
// to a routed, unowned /24. The namespaces are always removed. Needs root, iproute2, nmap,
// masscan, wrk and dig.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, sh, tempDir } from './helpers/cli.js';
import { eveLines, exited, isRoot, must, waitFor, withNamespaces } from './helpers/netns.js';

const NS_A = `pal-sa-${process.pid}`;
const NS_V = `pal-sv-${process.pid}`;
const IF_A = `psa${process.pid % 100000}`;
const IF_V = `psv${process.pid % 100000}`;
const NET = '198.18.30';
const VICTIM = `${NET}.2`;
const CLIENT = `${NET}.1`;
/** A /24 routed through the victim, where nobody answers: the sweep's targets. */
const SWEEP_NET = '198.18.31';

/** Source address of each scan, and the kind it must be reported as. */
const SCANS: { src: string; kind: string; args: string }[] = [
  { src: `${NET}.11`, kind: 'syn_scan', args: '-sS -p 1-100' },
  { src: `${NET}.12`, kind: 'connect_scan', args: '-sT -p 1-100' },
  { src: `${NET}.13`, kind: 'fin_scan', args: '-sF -p 1-60' },
  { src: `${NET}.14`, kind: 'null_scan', args: '-sN -p 1-60' },
  { src: `${NET}.15`, kind: 'xmas_scan', args: '-sX -p 1-60' },
  { src: `${NET}.16`, kind: 'ack_scan', args: '-sA -p 1-60' },
  { src: `${NET}.17`, kind: 'maimon_scan', args: '-sM -p 1-60' },
  { src: `${NET}.18`, kind: 'udp_scan', args: '-sU -p 1-40' },
];
const DECOY_REAL = `${NET}.20`;
const DECOYS = [`${NET}.50`, `${NET}.51`];
const DISTRIBUTED = [`${NET}.21`, `${NET}.22`, `${NET}.23`];
const SWEEPER = `${NET}.19`;
const SLOW = `${NET}.24`;
const MASSCAN = `${NET}.25`;

const SERVER = `
const http = require('node:http');
const dgram = require('node:dgram');
for (const port of [22, 80, 443, 8080]) http.createServer((q, r) => r.end('ok\\n')).listen(port, '${VICTIM}');
const dns = dgram.createSocket('udp4');
dns.on('message', (m, from) => {
  if (m.length < 12) return;
  const a = Buffer.from(m);
  a[2] = 0x81; a[3] = 0x83; // a response: NXDOMAIN
  dns.send(a, from.port, from.address);
});
dns.bind(53, '${VICTIM}', () => console.log('ready'));
`;

function setUp(): void {
  must(`ip netns add ${NS_A}`);
  must(`ip netns add ${NS_V}`);
  for (const ns of [NS_A, NS_V]) {
    must(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`);
    must(`ip -n ${ns} link set lo up`);
  }
  // UDP scans are answered at full speed, as by a host without ICMP rate limits.
  must(`ip netns exec ${NS_V} sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000`);
  must(`ip link add ${IF_A} netns ${NS_A} type veth peer name ${IF_V} netns ${NS_V}`);
  must(`ip -n ${NS_A} addr add ${CLIENT}/24 dev ${IF_A}`);
  for (const a of [...SCANS.map((s) => s.src), DECOY_REAL, ...DISTRIBUTED, SWEEPER, SLOW, MASSCAN]) must(`ip -n ${NS_A} addr add ${a}/32 dev ${IF_A}`);
  must(`ip -n ${NS_V} addr add ${VICTIM}/24 dev ${IF_V}`);
  must(`ip -n ${NS_A} link set ${IF_A} up`);
  must(`ip -n ${NS_V} link set ${IF_V} up`);
  must(`ip -n ${NS_A} route add ${SWEEP_NET}.0/24 via ${VICTIM}`);
}

function tearDown(): void {
  sh(`ip netns del ${NS_A}`);
  sh(`ip netns del ${NS_V}`);
}

/** Runs a command in the attacker namespace; its output is returned for messages. */
function attacker(cmd: string): string {
  const r = sh(`ip netns exec ${NS_A} ${cmd}`);
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const nmap = (src: string, args: string, target = VICTIM): string => attacker(`nmap -n -Pn -e ${IF_A} -S ${src} --max-retries 1 ${args} ${target}`);

describe('scan detection, live against real nmap and masscan', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
  it('reports each scan type with its kind, and nothing for normal clients', { timeout: 240000 }, async (t) => {
    const dir = tempDir(t);
    const children = withNamespaces(t, setUp, tearDown);
    const inVictim = (args: string[]): ChildProcess => {
      const c = spawn('ip', ['netns', 'exec', NS_V, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    };
    const server = inVictim([process.execPath, '-e', SERVER]);
    await waitFor(server, 'stdout', /ready/, 10000);

    // The defaults (normal profile), with windows short enough for a test: the slow scan is paced
    // at one probe per 3 s, below the 8 s port-scan window's threshold.
    const eve = join(dir, 'eve.json');
    const cfg = join(dir, 'palisade.yaml');
    writeFileSync(
      cfg,
      `outputs:\n  eve:\n    filename: ${eve}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
        `enforce:\n  backend: dry-run\nstate:\n  path: ${join(dir, 'state.db')}\ncontrol:\n  socket: ''\n` +
        'detect:\n  port_scan:\n    window: 8s\n  slow_scan:\n    window: 2m\n    min_duration: 10s\n    ports: 5\n',
    );
    const palisade = inVictim([process.execPath, CLI, 'run', '-i', IF_V, '-c', cfg]);
    await waitFor(palisade, 'stderr', /"msg":"capture started"/, 15000);

    // Normal clients first: 50 concurrent HTTP connections, four services, repeated DNS.
    attacker(`wrk -t 2 -c 50 -d 4s http://${VICTIM}:8080/`);
    for (let i = 0; i < 3; i++) for (const port of [22, 80, 443, 8080]) attacker(`curl -s -o /dev/null http://${VICTIM}:${port}/`);
    for (let i = 0; i < 30; i++) attacker(`dig +tries=1 +time=1 @${VICTIM} host${i}.example.test`);

    // Three sources, 12 ports each, together covering 36.
    DISTRIBUTED.forEach((src, i) => nmap(src, `-sS -p ${1000 + i * 12}-${1011 + i * 12}`));
    for (const s of SCANS) nmap(s.src, s.args);
    nmap(DECOY_REAL, `-sS -p 1-100 -D ${DECOYS.join(',')},ME`);
    attacker(`nmap -n -sn -PE -PS80 --disable-arp-ping --max-retries 0 -e ${IF_A} -S ${SWEEPER} ${SWEEP_NET}.0/26`);
    const macV = must(`ip -n ${NS_V} -br link show ${IF_V}`).trim().split(/\s+/)[2]!;
    // masscan 1.3 can keep "waiting" after its --wait is over: its scan is done after 2 s.
    attacker(`sh -c 'timeout -k 1 -s INT 4 masscan ${VICTIM} -p1-200 --rate 5000 --adapter ${IF_A} --adapter-ip ${MASSCAN} --router-mac ${macV} --wait 1 >/dev/null 2>&1; true'`);
    nmap(SLOW, '-sS --scan-delay 3s -p 2000-2007');

    await new Promise((r) => setTimeout(r, 4000)); // the response timeout, then a tick
    palisade.kill('SIGTERM');
    assert.equal(await exited(palisade), 0);

    const alerts = eveLines(eve).filter((e) => e.event_type === 'alert');
    const kinds = new Map<string, Set<string>>();
    for (const a of alerts) {
      if (!kinds.has(a.src_ip)) kinds.set(a.src_ip, new Set());
      kinds.get(a.src_ip)!.add(a.palisade.kind);
    }
    const of = (ip: string): string[] => [...(kinds.get(ip) ?? [])];
    const byKind = (ip: string, kind: string) => alerts.find((a) => a.src_ip === ip && a.palisade.kind === kind);

    assert.deepEqual(of(CLIENT), [], 'wrk, a 4-service client and DNS queries are not scans');
    assert.deepEqual(of(VICTIM), []);
    for (const s of SCANS) assert.ok(of(s.src).includes(s.kind), `${s.args}: expected ${s.kind}, got ${of(s.src).join(',') || 'nothing'}`);
    assert.equal(byKind(`${NET}.11`, 'syn_scan').palisade.evidence.tool, 'nmap');
    assert.ok(byKind(`${NET}.12`, 'connect_scan').palisade.evidence.connects > 0, 'open ports were connected to');

    for (const ip of [DECOY_REAL, ...DECOYS]) assert.deepEqual(of(ip), ['decoy_scan'], `${ip}: ${of(ip).join(',')}`);
    assert.equal(byKind(DECOY_REAL, 'decoy_scan').palisade.evidence.probably_spoofed, false);
    for (const ip of DECOYS) assert.equal(byKind(ip, 'decoy_scan').palisade.evidence.probably_spoofed, true);
    assert.equal(byKind(DECOY_REAL, 'decoy_scan').palisade.evidence.sources.length, 3);

    for (const ip of DISTRIBUTED) assert.deepEqual(of(ip), ['distributed_scan'], `${ip}: ${of(ip).join(',')}`);
    assert.deepEqual([...byKind(DISTRIBUTED[0]!, 'distributed_scan').palisade.evidence.scanners].sort(), [...DISTRIBUTED].sort());

    assert.ok(of(SWEEPER).includes('sweep'), `sweep: got ${of(SWEEPER).join(',') || 'nothing'}`);
    assert.ok(byKind(SWEEPER, 'sweep').palisade.evidence.hosts >= 25);

    assert.ok(of(MASSCAN).includes('syn_scan'), `masscan: got ${of(MASSCAN).join(',') || 'nothing'}`);
    assert.equal(byKind(MASSCAN, 'syn_scan').palisade.evidence.tool, 'masscan');

    assert.deepEqual(of(SLOW), ['slow_scan'], `--scan-delay 3s: got ${of(SLOW).join(',') || 'nothing'}`);
  });

  it('removed its namespaces', () => {
    const list = sh('ip netns list').stdout;
    assert.ok(!list.includes(NS_A) && !list.includes(NS_V), list);
  });
});
