// The first live IPv6 ban (defect 16): `palisade run` in a victim namespace whose bridge joins an
// attacker and a benign namespace on 2001:db8:8::/64, the victim's own /64. A real `nmap -6 -sS`
// from the attacker is banned by a scope narrowed to leave the victim's address out (not the /64,
// which would be refused), the attacker is cut off while a neighbour outside the narrowed scope
// still connects, and the kernel set holds the narrowed prefix. For each backend (nftables,
// ipset, iptables). Needs root, iproute2, nmap, curl and the three firewall tools. The
// namespaces are always removed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CLI, sh, tempDir } from './helpers/cli.js';
import { eveLines, exited, isRoot, must, waitFor, withNamespaces } from './helpers/netns.js';

const ID = process.pid % 100000;
const NS = { v: `pal-6v-${ID}`, a: `pal-6a-${ID}`, b: `pal-6b-${ID}` };
const NET = '2001:db8:8::';
const VICTIM = `${NET}10`;
const ATTACKER = `${NET}66`;
/**
 * Benign neighbours: ::20 is outside the narrowed scope and must still connect. ::77 shares
 * the narrowed /122 with the attacker (the widest prefix around ::66 that leaves ::10 out is
 * ::40/122, ::40 to ::7f), so it is cut off too: the price of the widest scope, asserted so.
 */
const BENIGN = `${NET}20`;
const INSIDE = `${NET}77`;
const NARROWED = `${NET}40/122`;

const SERVER = `
require('node:http').createServer((q, r) => r.end('ok\\n')).listen(8080, '${VICTIM}', () => console.log('ready'));
`;

function setUp(): void {
  for (const ns of Object.values(NS)) {
    must(`ip netns add ${ns}`);
    must(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0`);
    must(`ip -n ${ns} link set lo up`);
  }
  must(`ip -n ${NS.v} link add br0 type bridge`);
  for (const [side, ns] of [
    ['a', NS.a],
    ['b', NS.b],
  ] as const) {
    must(`ip link add p6${side}${ID} netns ${ns} type veth peer name q6${side} netns ${NS.v}`);
    must(`ip -n ${NS.v} link set q6${side} master br0 up`);
    must(`ip -n ${ns} link set p6${side}${ID} up`);
  }
  must(`ip -n ${NS.v} addr add ${VICTIM}/64 dev br0 nodad`);
  must(`ip -n ${NS.v} link set br0 up`);
  must(`ip -n ${NS.a} addr add ${ATTACKER}/64 dev p6a${ID} nodad`);
  for (const a of [BENIGN, INSIDE]) must(`ip -n ${NS.b} addr add ${a}/64 dev p6b${ID} nodad`);
}

function tearDown(): void {
  for (const ns of Object.values(NS)) sh(`ip netns del ${ns}`);
}

const inNs = (ns: string, cmd: string) => sh(`ip netns exec ${ns} ${cmd}`);

/** True when an HTTP request from `src` (in namespace `ns`) to the victim succeeds. */
function connects(ns: string, src: string): boolean {
  return inNs(ns, `curl -s -g -m 2 --interface ${src} http://[${VICTIM}]:8080/`).stdout.includes('ok');
}

async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out after ${ms} ms waiting for: ${what}`);
}

/** What the kernel holds for the ban, per backend. */
const KERNEL: Record<string, { cmd: string; want: RegExp }> = {
  nftables: { cmd: 'nft list set inet palisade ban6', want: /2001:db8:8::40\/122/ },
  ipset: { cmd: 'ipset list palisade6', want: /^2001:db8:8::40\/122 /m },
  iptables: { cmd: 'ip6tables -S palisade', want: /-s 2001:db8:8::40\/122 -j DROP/ },
};

async function run(t: TestContext, backend: string): Promise<void> {
  const dir = tempDir(t);
  const children = withNamespaces(t, setUp, tearDown);
  const server = spawn('ip', ['netns', 'exec', NS.v, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(server);
  await waitFor(server, 'stdout', /ready/, 10000);
  const eve = join(dir, 'eve.json');
  const cfg = join(dir, 'palisade.yaml');
  writeFileSync(
    cfg,
    `outputs:\n  eve:\n    filename: ${eve}\n  stdout:\n    enabled: false\nstats:\n  interval: 1h\n` +
      `state:\n  path: ${join(dir, 'state.db')}\ncontrol:\n  socket: ${join(dir, 'palisade.sock')}\n` +
      `enforce:\n  backend: ${backend}\n  retry_initial: 500ms\n  retry_max: 1s\n` +
      'detect:\n  port_scan:\n    window: 30s\nblock:\n  duration: 1h\n',
  );
  let log = '';
  const p = spawn('ip', ['netns', 'exec', NS.v, process.execPath, CLI, 'run', '-i', 'br0', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_CONNECTION: '' } });
  children.push(p);
  p.stderr!.on('data', (d) => (log += String(d)));
  await waitFor(p, 'stderr', /"msg":"capture started"/, 20000);
  assert.ok(connects(NS.a, ATTACKER), 'the attacker connects before the scan');
  assert.ok(connects(NS.b, BENIGN), 'the neighbour connects before the scan');
  const scan = inNs(NS.a, `nmap -6 -n -Pn -sS -e p6a${ID} --max-retries 1 -p 1-200 ${VICTIM}`);
  assert.equal(scan.code, 0, scan.stderr);
  const bans = () => (existsSync(eve) ? eveLines(eve).filter((e) => e.event_type === 'alert' && e.src_ip === ATTACKER && e.palisade.decision === 'ban') : []);
  await until('a ban of the attacker', () => bans().length > 0, 15000);
  const ban = bans()[0];
  assert.equal(ban.palisade.ban.scope, NARROWED, 'narrowed, not the /64');
  assert.equal(ban.palisade.reason, `policy (scope narrowed from 2001:db8:8::/64 to ${NARROWED}: own address ${VICTIM})`);
  assert.doesNotMatch(log, /ban refused: protected address/);
  await until('the attacker cut off', () => !connects(NS.a, ATTACKER), 5000);
  assert.ok(connects(NS.b, BENIGN), 'a neighbour outside the narrowed scope still connects');
  assert.ok(!connects(NS.b, INSIDE), 'a neighbour inside the narrowed scope is cut off with it');
  const k = KERNEL[backend]!;
  assert.match(inNs(NS.v, k.cmd).stdout, k.want);
  const list = JSON.parse(inNs(NS.v, `${process.execPath} ${CLI} bans list --json -c ${cfg}`).stdout) as { scope: string }[];
  assert.deepEqual(list.map((b) => b.scope), [NARROWED]);
  p.kill('SIGTERM');
  assert.equal(await exited(p), 0);
}

const skip = isRoot ? false : 'needs root for network namespaces';

describe('defect 16: live IPv6 ban', { skip }, () => {
  for (const backend of ['nftables', 'ipset', 'iptables']) {
    it(`defect 16: live IPv6 ban (${backend}): nmap -6 from the host's own /64 is banned by a narrowed scope, in the kernel`, { timeout: 90000 }, async (t) => {
      await run(t, backend);
    });
  }
});
