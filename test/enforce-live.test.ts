// Decide and enforce end to end, against the real kernel firewall: `palisade run` in a victim
// namespace whose bridge joins an attacker and a benign namespace (198.18.40.0/24), with real
// nmap and hping3. For each backend (nftables, ipset, iptables): a SYN scan bans the attacker,
// its connections then fail while the benign host's succeed, and the short ban expires. Also:
// trusted and spoofed (gateway, own address) scans ban nothing, a SIGKILL restart keeps the ban
// with its remaining time and never duplicates it, a failing `nft` is retried until it works,
// and the operator CLI works against the daemon and without it. Needs root, iproute2, nmap,
// hping3, curl, nftables, ipset and iptables. The namespaces are always removed.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { sh } from './helpers/cli.js';
import { lab as makeLab, net, until, type Lab } from './helpers/lab.js';
import { eveLines, exited, isRoot, must } from './helpers/netns.js';

const N = net('e', 40);
const NS = N.ns;
const NET = '198.18.40';
const { victim: VICTIM, attacker: ATTACKER, benign: BENIGN, gateway: GATEWAY, trusted: TRUSTED, extra: EXTRA } = N;

const inNs = (ns: string, cmd: string) => sh(`ip netns exec ${ns} ${cmd}`);

/** True when an HTTP request from `src` (in namespace `ns`) to the victim succeeds. */
function connects(ns: string, src: string): boolean {
  return inNs(ns, `curl -s -m 2 --interface ${src} http://${VICTIM}:8080/`).stdout.includes('ok');
}

function nmapSyn(src: string, ports = '1-200'): void {
  const r = inNs(NS.a, `nmap -n -Pn -sS -e ${N.attackerIf} -S ${src} --max-retries 1 -p ${ports} ${VICTIM}`);
  assert.equal(r.code, 0, r.stderr);
}

/** Elements of the nftables ban sets, as text. */
function nftElements(): string {
  return inNs(NS.v, 'nft list set inet palisade ban4').stdout;
}

const lab = (t: TestContext, backend: string, extra = ''): Promise<Lab> => makeLab(t, 'e', 40, backend, extra);

const bansFor = (eve: string, src: string) => eveLines(eve).filter((e) => e.event_type === 'alert' && e.src_ip === src && e.palisade.decision === 'ban');

const skip = isRoot ? false : 'needs root for network namespaces';

describe('decide and enforce, live against the kernel firewall', { skip }, () => {
  for (const backend of ['nftables', 'ipset', 'iptables']) {
    it(`${backend}: a SYN scan bans the attacker, the benign host still connects, the ban expires`, { timeout: 120000 }, async (t) => {
      const l = await lab(t, backend, 'block:\n  duration: 8s\n');
      const p = await l.start();
      assert.ok(connects(NS.a, ATTACKER), 'the attacker connects before the scan');
      nmapSyn(ATTACKER);
      await until('a ban of the attacker', () => existsSync(l.eve) && bansFor(l.eve, ATTACKER).length > 0, 10000);
      const ban = bansFor(l.eve, ATTACKER)[0];
      assert.equal(ban.palisade.ban.scope, `${ATTACKER}/32`);
      assert.equal(ban.alert.action, 'blocked');
      await until('the attacker cut off', () => !connects(NS.a, ATTACKER), 5000);
      assert.ok(connects(NS.b, BENIGN), 'the benign host still connects');
      if (backend === 'nftables') assert.match(nftElements(), new RegExp(ATTACKER.replace(/\./g, '\\.')));
      if (backend === 'ipset') assert.match(inNs(NS.v, 'ipset list palisade4').stdout, new RegExp(ATTACKER));
      if (backend === 'iptables') assert.match(inNs(NS.v, 'iptables -S palisade').stdout, new RegExp(`-s ${ATTACKER}/32 -j DROP`));
      await until('the ban to expire', () => connects(NS.a, ATTACKER), 15000);
      if (backend === 'iptables') await until('the rule removed', () => !inNs(NS.v, 'iptables -S palisade').stdout.includes(ATTACKER), 3000);
      const manual = (): void => assert.equal(l.cli(['ban', EXTRA[0]!, '--for', '1h']).code, 0);
      manual();
      p.kill('SIGTERM');
      assert.equal(await exited(p), 0);
      // By default bans stay in force after exit...
      assert.ok(!connects(NS.a, EXTRA[0]!), 'a ban outlives the daemon');
      // ...and --flush-on-exit removes them and everything Palisade created.
      const p2 = await l.start({}, ['--flush-on-exit']);
      manual();
      p2.kill('SIGTERM');
      assert.equal(await exited(p2), 0);
      assert.ok(connects(NS.a, EXTRA[0]!), 'flushed on exit');
      const leftovers: Record<string, string> = {
        nftables: inNs(NS.v, 'nft list tables').stdout,
        ipset: inNs(NS.v, 'ipset list -n').stdout + inNs(NS.v, 'iptables -S').stdout,
        iptables: inNs(NS.v, 'iptables -S').stdout + inNs(NS.v, 'ip6tables -S').stdout,
      };
      assert.doesNotMatch(leftovers[backend]!, /palisade/);
    });
  }

  it('trusted and spoofed scans ban nothing; refusals are reported with their reason', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'nftables');
    const p = await l.start();
    nmapSyn(TRUSTED);
    // Spoofed as the gateway (replies go to the benign namespace, which holds it) and as the
    // victim's own address.
    inNs(NS.a, `hping3 -q -S -a ${GATEWAY} -p ++1000 -c 60 -i u5000 ${VICTIM}`);
    inNs(NS.a, `hping3 -q -S -a ${VICTIM} -p ++2000 -c 60 -i u5000 ${VICTIM}`);
    nmapSyn(EXTRA[0]!, '1-100'); // a real attacker, so we know detection ran
    await until('the real attacker banned', () => existsSync(l.eve) && bansFor(l.eve, EXTRA[0]!).length > 0, 10000);
    await new Promise((r) => setTimeout(r, 4500)); // the response timeout for the unanswered spoofs
    const list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout) as { scope: string }[];
    assert.deepEqual(list.map((b) => b.scope), [EXTRA[0]]);
    const elements = nftElements();
    for (const a of [TRUSTED, GATEWAY, VICTIM]) assert.doesNotMatch(elements, new RegExp(`${a.replace(/\./g, '\\.')}\\b`));
    const alerts = eveLines(l.eve).filter((e) => e.event_type === 'alert');
    const gw = alerts.filter((e) => e.src_ip === GATEWAY);
    assert.ok(gw.length > 0, 'the gateway-spoofed scan is reported');
    for (const e of gw) assert.match(e.palisade.reason, /not banned: default gateway/);
    for (const e of alerts.filter((x) => x.src_ip === VICTIM)) assert.match(e.palisade.reason, /not banned: own address/);
    assert.equal(alerts.filter((e) => e.src_ip === TRUSTED).length, 0, 'trusted sources are not alerted');
    // The trusted scan is on record as a notice with no ban.
    const h = JSON.parse(l.cli(['history', TRUSTED, '--json']).stdout);
    assert.ok(h.notices.length > 0, 'the trusted scan is in history');
    assert.match(h.notices[0].reason, /trusted/);
    assert.equal(h.bans.length, 0);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
    assert.match(l.log(p), /not banned: default gateway.*"msg":"ban refused: protected address"/);
  });

  it('a SIGKILL restart keeps the ban with its remaining time, once', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'nftables', 'block:\n  duration: 2m\n');
    let p = await l.start();
    nmapSyn(ATTACKER);
    await until('a ban of the attacker', () => nftElements().includes(ATTACKER), 10000);
    p.kill('SIGKILL');
    await exited(p);
    assert.ok(nftElements().includes(ATTACKER), 'the kernel keeps the ban while Palisade is down');
    await new Promise((r) => setTimeout(r, 2000));
    p = await l.start();
    const list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout) as { scope: string; remaining: number }[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.scope, ATTACKER);
    assert.ok(list[0]!.remaining > 100 && list[0]!.remaining <= 118, `remaining ${list[0]!.remaining}`);
    assert.equal(nftElements().split(ATTACKER).length - 1, 1, 'one element');
    assert.ok(!connects(NS.a, ATTACKER));
    // A fresh scan from the banned source (its packets are still seen) does not ban it twice.
    nmapSyn(ATTACKER, '300-400');
    await new Promise((r) => setTimeout(r, 1500));
    const db = inNs(NS.v, `${process.execPath} -e "const D=require('${join(process.cwd(), 'node_modules/better-sqlite3')}');const d=new D('${join(l.dir, 'state.db')}');console.log(JSON.stringify(d.prepare('select scope, lifted_at from bans').all()))"`);
    const rows = JSON.parse(db.stdout) as { scope: string; lifted_at: number | null }[];
    assert.equal(rows.filter((r) => r.lifted_at === null).length, 1, db.stdout);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('a failing nft is reported and retried: detection goes on, blocking resumes', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'nftables');
    const bin = join(l.dir, 'bin');
    const down = join(l.dir, 'nft-down');
    must(`mkdir -p ${bin}`);
    writeFileSync(join(bin, 'nft'), `#!/bin/sh\nif [ -e ${down} ]; then echo "nft: simulated failure" >&2; exit 1; fi\nexec /usr/sbin/nft "$@"\n`);
    chmodSync(join(bin, 'nft'), 0o755);
    const p = await l.start({ PATH: `${bin}:${process.env.PATH}` });
    writeFileSync(down, '');
    nmapSyn(EXTRA[1]!);
    await until('the failure reported', () => /firewall change failed.*simulated failure/.test(l.log(p)), 10000);
    await until('detection and the decision go on', () => bansFor(l.eve, EXTRA[1]!).length === 1, 5000);
    assert.ok(!nftElements().includes(EXTRA[1]!));
    nmapSyn(EXTRA[2]!); // detection still runs while the firewall is down
    await until('the second attacker detected', () => bansFor(l.eve, EXTRA[2]!).length === 1, 10000);
    rmSync(down);
    await until('blocking resumed', () => nftElements().includes(EXTRA[1]!) && nftElements().includes(EXTRA[2]!), 10000);
    // The daemon logs the recovery when nft has exited, a moment after the kernel has the elements.
    await until('the recovery logged', () => /firewall working again/.test(l.log(p)), 5000);
    assert.ok(!connects(NS.a, EXTRA[1]!));
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('honeypot: a banned scanner sees closed allow-listed ports open (forged SYN-ACKs)', { timeout: 120000 }, async (t) => {
    const allowed = [21, 23, 25, 110, 143, 443, 445, 3306, 3389, 5432];
    const l = await lab(t, 'nftables', `honeypot:\n  enabled: true\n  ports: [${allowed.join(', ')}]\n`);
    const p = await l.start();
    nmapSyn(ATTACKER, '1000-1200');
    await until('a ban of the attacker', () => nftElements().includes(ATTACKER), 10000);
    const r = inNs(NS.a, `nmap -n -Pn -sS -e ${N.attackerIf} -S ${ATTACKER} --max-retries 1 -p 99,8080,${allowed.join(',')} ${VICTIM}`);
    assert.equal(r.code, 0, r.stderr);
    const state = (port: number): string => new RegExp(`^${port}/tcp\\s+(\\S+)`, 'm').exec(r.stdout)?.[1] ?? 'absent';
    for (const port of allowed) assert.equal(state(port), 'open', `port ${port} (no listener) looks open:\n${r.stdout}`);
    assert.equal(state(99), 'filtered', 'a port off the allow-list is not answered');
    assert.equal(state(8080), 'filtered', 'a listening port is not answered (the ban drops it)');
    // Closed for everyone else: the benign host gets a refusal.
    assert.equal(inNs(NS.b, `curl -s -m 2 http://${VICTIM}:3306/`).code, 7);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
    const stats = eveLines(l.eve).filter((e) => e.event_type === 'stats').at(-1);
    assert.ok(stats.stats.honeypot.replies >= allowed.length, JSON.stringify(stats.stats.honeypot));
    // What the scanner did next is on record: its kernel reset each forged connection.
    assert.ok(stats.stats.honeypot.followup_rst >= allowed.length, JSON.stringify(stats.stats.honeypot));
  });

  it('the CLI bans, lists and unbans against the daemon and without it; protected addresses are refused', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'nftables');
    const p = await l.start();
    let r = l.cli(['ban', EXTRA[3]!, '--for', '1h', '--reason', 'manual']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${EXTRA[3]} banned for (59m|1h)`));
    assert.ok(nftElements().includes(EXTRA[3]!));
    assert.ok(!connects(NS.a, EXTRA[3]!));
    let list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout) as { scope: string; reason: string; origin: string }[];
    assert.deepEqual(list.map((b) => [b.scope, b.reason, b.origin]), [[EXTRA[3], 'manual', 'operator']]);
    r = l.cli(['ban', GATEWAY]);
    assert.equal(r.code, 9);
    assert.match(r.stderr, /not banned: default gateway/);
    r = l.cli(['ban', `${NET}.0/30`]);
    assert.equal(r.code, 9, 'a prefix holding the host is refused');
    assert.match(r.stderr, /own address/);
    r = l.cli(['unban', EXTRA[3]!]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!nftElements().includes(EXTRA[3]!));
    assert.ok(connects(NS.a, EXTRA[3]!));
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);

    // No daemon: the database and the firewall directly.
    r = l.cli(['ban', EXTRA[2]!, '--for', '30m']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(nftElements().includes(EXTRA[2]!));
    list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout);
    assert.deepEqual(list.map((b) => b.scope), [EXTRA[2]]);
    r = l.cli(['status', '--json']);
    assert.equal(JSON.parse(r.stdout).daemon, false);
    const p2 = await l.start();
    list = JSON.parse(l.cli(['bans', 'list', '--json']).stdout);
    assert.deepEqual(list.map((b) => b.scope), [EXTRA[2]], 'the daemon restores the offline ban');
    assert.equal(JSON.parse(l.cli(['status', '--json']).stdout).daemon, true);
    p2.kill('SIGTERM');
    assert.equal(await exited(p2), 0);
    r = l.cli(['unban', EXTRA[2]!]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!nftElements().includes(EXTRA[2]!));
    assert.deepEqual(JSON.parse(l.cli(['bans', 'list', '--json']).stdout), []);
    const h = JSON.parse(l.cli(['history', EXTRA[2]!, '--json']).stdout);
    assert.equal(h.bans[0].lifted.reason, 'operator');
  });
});
