// The first live IPv6 ban (defect 16): `palisade run` in a victim namespace whose bridge joins an
// attacker and a benign namespace on 2001:db8:8::/64, the victim's own /64. A real `nmap -6 -sS`
// from the attacker is banned by a scope narrowed to leave the victim's address out (not the /64,
// which would be refused), the attacker is cut off while a neighbour outside the narrowed scope
// still connects, and the kernel set holds the narrowed prefix. For each backend (nftables,
// ipset, iptables). Needs root, iproute2, nmap, curl and the three firewall tools. The
// namespaces are always removed.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { lab, until } from './helpers/lab.js';
import { eveLines, exited, isRoot } from './helpers/netns.js';

/**
 * The lab's benign neighbours: ::20 is outside the narrowed scope and must still connect. ::77
 * shares the narrowed /122 with the attacker ::66 (the widest prefix around it that leaves the
 * victim ::10 out is ::40/122, ::40 to ::7f), so it is cut off too: the price of the widest
 * scope, asserted so.
 */
const NARROWED = '2001:db8:8::40/122';

/** What the kernel holds for the ban, per backend. */
const KERNEL: Record<string, { cmd: string; want: RegExp }> = {
  nftables: { cmd: 'nft list set inet palisade ban6', want: /2001:db8:8::40\/122/ },
  ipset: { cmd: 'ipset list palisade6', want: /^2001:db8:8::40\/122 /m },
  iptables: { cmd: 'ip6tables -S palisade', want: /-s 2001:db8:8::40\/122 -j DROP/ },
};

async function run(t: TestContext, backend: string): Promise<void> {
  const l = await lab(t, '6', 8, backend, 'block:\n  duration: 1h\n', true);
  const { n } = l;
  const p = await l.start();
  assert.ok(l.connects(n.ns.a, n.attacker), 'the attacker connects before the scan');
  assert.ok(l.connects(n.ns.b, n.benign), 'the neighbour connects before the scan');
  l.nmapSyn(n.attacker);
  const bans = () => (existsSync(l.eve) ? eveLines(l.eve).filter((e) => e.event_type === 'alert' && e.src_ip === n.attacker && e.palisade.decision === 'ban') : []);
  await until('a ban of the attacker', () => bans().length > 0, 15000);
  const ban = bans()[0];
  assert.equal(ban.palisade.ban.scope, NARROWED, 'narrowed, not the /64');
  assert.equal(ban.palisade.reason, `policy (scope narrowed from 2001:db8:8::/64 to ${NARROWED}: own address ${n.victim})`);
  assert.equal(ban.alert.action, 'blocked');
  const narrowed = eveLines(l.eve).find((e) => e.event_type === 'ban' && e.ban.action === 'narrowed');
  assert.ok(narrowed, 'a narrowed ban event');
  assert.equal(narrowed.ban.scope, NARROWED);
  assert.doesNotMatch(l.log(p), /ban refused: protected address/);
  await until('the attacker cut off', () => !l.connects(n.ns.a, n.attacker), 5000);
  assert.ok(l.connects(n.ns.b, n.benign), 'a neighbour outside the narrowed scope still connects');
  assert.ok(!l.connects(n.ns.b, n.neighbours[0]!), 'a neighbour inside the narrowed scope is cut off with it');
  const k = KERNEL[backend]!;
  assert.match(l.inNs(n.ns.v, k.cmd).stdout, k.want);
  const list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout) as { scope: string }[];
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
