// Fault injection against the real daemon in network namespaces (198.18.50.0/24): an EVE file on
// /dev/full or turned into a directory, state on a full or read-only filesystem or corrupted while
// stopped, a low file-descriptor limit under a flood of idle control clients, nft failing for
// everything and then for one element, SIGKILL in the middle of a commit, long bans (7 d, 30 d,
// 365 d) on every backend checked against the kernel's own timeouts across a restart, and fuzzed
// control requests. Each case asserts that protection goes on (the attacker is cut off), that
// nothing recorded is lost, and that the fault is reported in `status` and as an event or log line.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { sh } from './helpers/cli.js';
import { lab, sleep, until, type Lab } from './helpers/lab.js';
import { eveLines, exited, isRoot, must } from './helpers/netns.js';

const skip = isRoot ? false : 'needs root for network namespaces and mounts';

const status = (l: Lab): any => {
  const r = l.cli(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

const bans = (l: Lab): { scope: string; remaining: number; origin: string; kind: string }[] => {
  const r = l.cli(['bans', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

const banEvents = (l: Lab): any[] => (existsSync(l.eve) ? eveLines(l.eve).filter((e) => e.event_type === 'ban') : []);

/** A tmpfs of `size` mounted at `dir` for the test's life. */
function tmpfs(t: TestContext, dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  must(`mount -t tmpfs -o size=${size},mode=0700 tmpfs ${dir}`);
  t.after(() => sh(`umount -l ${dir}`));
}

/** A PATH directory holding an `nft` wrapper with the given shell body before it runs the real one. */
function nftWrapper(l: Lab, body: string): string {
  const bin = join(l.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'nft'), `#!/bin/bash\ninput=$(cat)\n${body}\nprintf '%s\\n' "$input" | exec /usr/sbin/nft "$@"\n`);
  chmodSync(join(bin, 'nft'), 0o755);
  return bin;
}

/** Seconds the kernel has left on an element: nft's `expires`, or ipset's `timeout`. */
function kernelRemaining(l: Lab, backend: string, addr: string): number | null {
  if (backend === 'nftables') {
    const j = JSON.parse(l.inNs(l.n.ns.v, 'nft -j list set inet palisade ban4').stdout);
    for (const item of j.nftables) {
      for (const el of item.set?.elem ?? []) {
        if (el.elem && el.elem.val === addr) return el.elem.expires;
      }
    }
    return null;
  }
  if (backend === 'ipset') {
    const m = new RegExp(`^${addr.replace(/\./g, '\\.')} timeout (\\d+)`, 'm').exec(l.inNs(l.n.ns.v, 'ipset list palisade4').stdout);
    return m ? Number(m[1]) : null;
  }
  return l.inNs(l.n.ns.v, 'iptables -S palisade').stdout.includes(`-s ${addr}/32 -j DROP`) ? Infinity : null;
}

describe('fault injection: protection goes on, nothing recorded is lost, every fault is reported', { skip }, () => {
  it('EVE output on /dev/full, and on a directory after SIGHUP', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'fa', 50, 'nftables');
    // /dev/full: every write fails with ENOSPC.
    writeFileSync(l.cfg, readFileSync(l.cfg, 'utf8').replace(`filename: ${l.eve}`, 'filename: /dev/full'));
    let p = await l.start();
    l.nmapSyn(l.n.attacker);
    await until('the attacker banned despite the EVE file', () => l.nftSet().includes(l.n.attacker), 15000);
    assert.ok(!l.connects(l.n.ns.a, l.n.attacker));
    await until('the output fault in status', () => status(l).outputs?.some((o: any) => o.path === '/dev/full' && !o.ok && o.errors > 0), 10000);
    assert.equal(status(l).healthy, false);
    await until('the output fault logged', () => /PAL_ERR_OUTPUT_WRITE/.test(l.log(p)), 5000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);

    // A directory where the EVE file was, at SIGHUP: reported, and recovered at the next SIGHUP.
    writeFileSync(l.cfg, readFileSync(l.cfg, 'utf8').replace('filename: /dev/full', `filename: ${l.eve}`));
    p = await l.start();
    renameSync(l.eve, `${l.eve}.1`);
    mkdirSync(l.eve);
    p.kill('SIGHUP');
    await until('the reopen fault in the log', () => /PAL_ERR_OUTPUT_OPEN/.test(l.log(p)), 5000);
    l.nmapSyn(l.n.extra[0]!);
    await until('a second attacker banned', () => l.nftSet().includes(l.n.extra[0]!), 15000);
    assert.ok(status(l).outputs.some((o: any) => o.path === l.eve && !o.ok));
    rmSync(l.eve, { recursive: true });
    p.kill('SIGHUP');
    await until('the EVE file back', () => existsSync(l.eve) && status(l).outputs.every((o: any) => o.ok), 10000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('state on a full tmpfs, read-only, and corrupted while stopped', { timeout: 180000 }, async (t) => {
    const l = await lab(t, 'fb', 51, 'nftables');
    const stateDir = join(l.dir, 'state');
    tmpfs(t, stateDir, '2m');
    const db = join(stateDir, 'state.db');
    writeFileSync(l.cfg, readFileSync(l.cfg, 'utf8').replace(`path: ${l.db}`, `path: ${db}`));
    let p = await l.start();
    assert.equal(l.cli(['ban', l.n.extra[0]!, '--for', '1h', '--reason', 'before-the-fault']).code, 0);
    // Fill the filesystem: later writes fail with SQLITE_FULL.
    sh(`dd if=/dev/zero of=${join(stateDir, 'fill')} bs=64k 2>/dev/null`);
    l.nmapSyn(l.n.attacker);
    await until('the attacker banned on a full disk', () => l.nftSet().includes(l.n.attacker), 15000);
    await until('the state fault in status', () => status(l).state?.health?.ok === false, 10000);
    await until('the state fault logged', () => /PAL_ERR_STATE/.test(l.log(p)), 5000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
    rmSync(join(stateDir, 'fill'));

    // Read-only: bans are still read and restored; the fault is reported.
    must(`mount -o remount,ro ${stateDir}`);
    p = await l.start();
    assert.ok(bans(l).some((b) => b.scope === l.n.extra[0]), 'the ban recorded before the faults is restored');
    const s = status(l);
    assert.equal(s.state.health.mode, 'ro', JSON.stringify(s.state.health));
    assert.equal(s.healthy, false);
    l.nmapSyn(l.n.extra[1]!);
    await until('a ban with read-only state', () => l.nftSet().includes(l.n.extra[1]!), 15000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
    must(`mount -o remount,rw ${stateDir}`);

    // Corrupted while stopped: set aside with a timestamp, a fresh database, and the kernel's
    // elements adopted back so nothing in force is lost.
    // The file and its write-ahead log both (the log, left by the full disk, holds the newest pages
    // and would otherwise mask a damaged file).
    for (const f of [db, `${db}-wal`].filter((x) => existsSync(x))) {
      const fd = readFileSync(f);
      fd.fill(0x5a, 0, Math.min(fd.length, 8192));
      writeFileSync(f, fd);
    }
    p = await l.start();
    await until('the corrupt database set aside', () => readdirSync(stateDir).some((f) => f.startsWith('state.db.corrupt-')), 5000);
    await until('the corruption logged', () => /corrupt/i.test(l.log(p)), 5000);
    const st = status(l);
    assert.equal(st.healthy, false);
    assert.ok(st.state.health.setAside);
    const after = bans(l);
    assert.ok(after.some((b) => b.scope === l.n.extra[0] && b.origin === 'firewall'), JSON.stringify(after));
    await until('the adoption in EVE, with no packet to flush it', () => banEvents(l).some((e) => e.ban.action === 'adopted' && e.ban.scope.startsWith(l.n.extra[0]!)), 5000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('a low file-descriptor limit and a flood of idle control clients', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'fc', 52, 'nftables');
    const p = await l.start({}, [], ['prlimit', '--nofile=128:128', '--']);
    // 500 idle clients from a helper process: the daemon caps them and keeps its descriptors.
    const flood = spawn(process.execPath, ['-e', `
      const net = require('node:net'); const socks = []; let open = 0;
      for (let i = 0; i < 500; i++) { const s = net.connect(${JSON.stringify(l.sock)}); s.on('connect', () => open++); s.on('error', () => {}); socks.push(s); }
      setTimeout(() => console.log('flooding ' + open), 1500);
      setTimeout(() => process.exit(0), 20000);`], { stdio: ['ignore', 'pipe', 'pipe'] });
    l.children.push(flood);
    await new Promise<void>((r) => flood.stdout!.once('data', () => r()));
    l.nmapSyn(l.n.attacker);
    await until('the attacker banned while the socket is flooded', () => l.nftSet().includes(l.n.attacker), 15000);
    assert.ok(!l.connects(l.n.ns.a, l.n.attacker));
    flood.kill('SIGKILL');
    await exited(flood);
    await until('status answers after the flood', () => l.cli(['status', '--json']).code === 0, 15000);
    assert.ok(status(l).control.refused > 0, 'the excess connections were refused and counted');
    assert.equal(p.exitCode, null, 'the daemon is alive');
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('nft failing for everything, then only for one element: that one is quarantined, the rest apply', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'fd', 53, 'nftables');
    const down = join(l.dir, 'nft-down');
    const bad = l.n.extra[2]!;
    const bin = nftWrapper(
      l,
      `if [ -e ${down} ]; then echo "nft: simulated outage" >&2; exit 1; fi\n` +
        `if printf '%s' "$input" | grep -q '${bad}'; then echo "Error: simulated refusal of ${bad}" >&2; exit 1; fi`,
    );
    const p = await l.start({ PATH: `${bin}:${process.env.PATH}` });
    writeFileSync(down, '');
    l.nmapSyn(l.n.attacker);
    const r = l.cli(['ban', bad, '--for', '1h']);
    assert.equal(r.code, 6, `a change that did not reach the firewall exits 6: ${r.stdout}${r.stderr}`);
    await until('the outage reported', () => /simulated outage/.test(l.log(p)), 10000);
    assert.equal(status(l).enforce.healthy, false);
    // The alert does not claim a block the kernel does not have.
    await until('the alert written', () => existsSync(l.eve) && eveLines(l.eve).some((e) => e.event_type === 'alert' && e.src_ip === l.n.attacker), 10000);
    const alert = eveLines(l.eve).find((e) => e.event_type === 'alert' && e.src_ip === l.n.attacker);
    assert.equal(alert.alert.action, 'allowed');
    assert.equal(alert.palisade.enforcement.status, 'failed');
    rmSync(down);
    await until('the others applied', () => l.nftSet().includes(l.n.attacker), 15000);
    assert.ok(!l.nftSet().includes(bad), 'the refused element is not in the kernel');
    await until('the quarantine reported', () => banEvents(l).some((e) => e.ban.action === 'quarantined' && e.ban.scope.startsWith(bad)), 10000);
    assert.ok(banEvents(l).some((e) => e.ban.action === 'applied' && e.ban.scope.startsWith(l.n.attacker)));
    // Later bans still apply: nothing is held hostage.
    l.nmapSyn(l.n.extra[3]!);
    await until('a later ban applied', () => l.nftSet().includes(l.n.extra[3]!), 15000);
    assert.ok(!bans(l).some((b) => b.scope === bad), 'a quarantined ban is not listed as in force');
    await until('the quarantine logged', () => /quarantined/.test(l.log(p)), 5000);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  it('SIGKILL in the middle of a commit: the restart applies what the database holds', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'fe', 54, 'nftables', 'block:\n  duration: 1h\n');
    const bin = nftWrapper(l, `if printf '%s' "$input" | grep -q 'add element'; then touch ${join(l.dir, 'in-commit')}; sleep 30; fi`);
    let p = await l.start({ PATH: `${bin}:${process.env.PATH}` });
    l.nmapSyn(l.n.attacker);
    await until('a commit under way', () => existsSync(join(l.dir, 'in-commit')), 15000);
    p.kill('SIGKILL');
    sh(`pkill -9 -f '${bin}/nft'`);
    await exited(p);
    assert.ok(!l.nftSet().includes(l.n.attacker), 'the commit never reached the kernel');
    p = await l.start();
    await until('the ban applied at restart', () => l.nftSet().includes(l.n.attacker), 10000);
    const [b] = bans(l).filter((x) => x.scope === l.n.attacker);
    assert.ok(b, 'the ban is in force');
    const k = kernelRemaining(l, 'nftables', l.n.attacker)!;
    assert.ok(Math.abs(k - b.remaining) <= Math.max(2, b.remaining * 0.01), `kernel ${k} s, database ${b.remaining} s`);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });

  for (const backend of ['nftables', 'ipset', 'iptables']) {
    it(`${backend}: bans of 7 d, 30 d and 365 d hold in the kernel across a restart, within 1%`, { timeout: 120000 }, async (t) => {
      const l = await lab(t, `g${backend[0]}`, 55 + ['nftables', 'ipset', 'iptables'].indexOf(backend), backend);
      let p = await l.start();
      const long = { '7d': l.n.extra[4]!, '30d': l.n.extra[5]!, '365d': l.n.extra[6]! };
      for (const [d, a] of Object.entries(long)) {
        const r = l.cli(['ban', a, '--for', d]);
        assert.equal(r.code, 0, r.stderr);
      }
      p.kill('SIGTERM');
      assert.equal(await exited(p), 0);
      await sleep(1000);
      p = await l.start();
      const list = bans(l);
      for (const a of Object.values(long)) {
        const b = list.find((x) => x.scope === a);
        assert.ok(b, `${a} restored`);
        const k = kernelRemaining(l, backend, a);
        assert.ok(k !== null, `${a} in the kernel`);
        // ipset caps a timeout at 2147483 s (24.8 d): the element is refreshed before it runs out.
        const want = backend === 'ipset' ? Math.min(b.remaining, 2147483) : b.remaining;
        if (k !== Infinity) assert.ok(Math.abs(k - want) <= want * 0.01, `${backend} ${a}: kernel ${k} s, expected ${want} s`);
      }
      assert.ok(!l.connects(l.n.ns.a, long['365d']));
      p.kill('SIGTERM');
      assert.equal(await exited(p), 0);
    });
  }

  it('fuzzed control requests: wrong types, huge numbers, missing fields, 10k pipelined', { timeout: 120000 }, async (t) => {
    const l = await lab(t, 'ff', 58, 'nftables');
    const p = await l.start();
    const script = join(l.dir, 'fuzz.cjs');
    writeFileSync(
      script,
      `
const net = require('node:net');
let seed = 12345; const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const values = [null, true, 0, -1, 1e308, -1e308, 'abc', '', '1e308', 'NaN', [], {}, 'x'.repeat(5000), 1.5, 2 ** 53, '198.51.100.7', '::/0', '0.0.0.0/0', '\\u0000\\u001b[31m'];
const cmds = ['ban', 'unban', 'history', 'status', 'list', 'alerts', 'top', 'nope', 5, null];
const reqs = [];
for (let i = 0; i < 2000; i++) {
  const r = {};
  if (rnd() < 0.9) r.cmd = pick(cmds);
  for (const k of ['target', 'seconds', 'reason', 'since', 'limit', 'kind', 'extra']) if (rnd() < 0.5) r[k] = pick(values);
  reqs.push(rnd() < 0.05 ? '{"cmd":' : rnd() < 0.05 ? 'not json' : JSON.stringify(r));
}
for (let i = 0; i < 10000; i++) reqs.push(JSON.stringify({ cmd: i % 2 ? 'status' : 'list', id: i }));
const s = net.connect(process.argv[2]);
let buf = ''; const replies = [];
s.on('data', (d) => { buf += d; let nl; while ((nl = buf.indexOf('\\n')) >= 0) { replies.push(JSON.parse(buf.slice(0, nl))); buf = buf.slice(nl + 1); } if (replies.length === reqs.length) { s.end(); process.stdout.write(JSON.stringify(replies.map((r) => [r.ok, r.code ?? null, r.id ?? null, typeof r.message === 'string' && /\\n\\s+at |TypeError|SQLITE|undefined/.test(r.message)])) + '\\n', () => process.exit(0)); } });
s.on('connect', () => { for (const r of reqs) s.write(r + '\\n'); });
setTimeout(() => { console.error('timeout with ' + replies.length); process.exit(2); }, 90000);
`,
    );
    const r = spawnSync(process.execPath, [script, l.sock], { timeout: 100000, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr.toString());
    const replies = JSON.parse(r.stdout.toString()) as [boolean, string | null, number | null, boolean][];
    assert.equal(replies.length, 12000);
    assert.equal(replies.filter((x) => x[3]).length, 0, 'no JavaScript or SQLite text in any reply');
    assert.equal(replies.filter((x) => x[1] === 'PAL_ERR_INTERNAL').length, 0, 'no internal error');
    const piped = replies.slice(2000);
    assert.deepEqual(piped.map((x) => x[2]), [...Array(10000).keys()], 'pipelined replies in order, with their ids');
    assert.ok(piped.every((x) => x[0]));
    // The daemon is alive, its database holds no malformed value, and it lists cleanly.
    assert.equal(p.exitCode, null);
    const db = l.inNs(l.n.ns.v, `${process.execPath} -e "const D=require('${join(process.cwd(), 'node_modules/better-sqlite3')}');const d=new D('${l.db}',{readonly:true});console.log(JSON.stringify(d.prepare('select typeof(until) t, until from bans').all()))"`);
    for (const row of JSON.parse(db.stdout) as { t: string; until: number }[]) assert.ok(row.t === 'real' || row.t === 'integer', db.stdout);
    assert.equal(l.cli(['bans', 'list', '--json']).code, 0);
    assert.equal(l.cli(['history', '198.51.100.7', '--json']).code, 0);
    p.kill('SIGTERM');
    assert.equal(await exited(p), 0);
  });
});
