// Fault injection for the enforce stage, against the real nft, ipset and iptables in network
// namespaces (no daemon): long bans reach every backend with the kernel's own timeout and are
// refreshed where the kernel caps it; one element the firewall refuses is bisected out and
// quarantined while the rest apply; a missing or systemically refusing tool quarantines nothing;
// runTool answers (never throws) when file descriptors are exhausted; the firewall table lock is
// exclusive per network namespace. Needs root. The namespaces are always removed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lockTable } from '../src/enforce/lock.js';
import { sh, tempDir } from './helpers/cli.js';
import { fakeTool } from './helpers/fake-tool.js';
import { isRoot, must, waitFor, withNamespaces } from './helpers/netns.js';

const ID = process.pid % 100000;
const DIST = fileURLToPath(new URL('../src/', import.meta.url));
const DAY = 86400;
const CAP = 2147483;

/** The head of every child script: the backends, an Enforcer on a movable clock, a ban maker. */
const PRELUDE = `
import { execSync } from 'node:child_process';
import { NftablesBackend } from '${DIST}enforce/nftables.js';
import { IpsetBackend } from '${DIST}enforce/ipset.js';
import { IptablesBackend } from '${DIST}enforce/iptables.js';
import { Enforcer } from '${DIST}enforce/enforcer.js';
import { runTool } from '${DIST}enforce/backend.js';
import { lockTable } from '${DIST}enforce/lock.js';
import { Cidr } from '${DIST}core/addr.js';
const out = { results: [], refreshes: [] };
let clock = Date.now() / 1000;
const backend = (n) => n === 'nftables' ? new NftablesBackend('palisade') : n === 'ipset' ? new IpsetBackend('palisade') : new IptablesBackend('palisade');
const enforcer = (b) => new Enforcer(b, { retryInitial: 0.05, retryMax: 0.1, now: () => clock,
  onResult: (r) => out.results.push({ ...r, scope: String(r.scope) }), onRefresh: (key, until) => out.refreshes.push({ key, left: until - clock }) });
const ban = (a, seconds) => ({ scope: Cidr.parse(a + '/32'), key: a + '/32', since: clock, until: clock + seconds, reason: 't', kind: 't', noticeIds: [], offence: 1, origin: 'detector' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The kernel's view: address -> remaining timeout (s), or true for a rule without one. */
function kernel(n) {
  const m = {};
  if (n === 'nftables') {
    for (const x of JSON.parse(execSync('nft -j list set inet palisade ban4', { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })).nftables)
      for (const e of x.set?.elem ?? []) m[e.elem.val] = e.elem.expires;
  } else if (n === 'ipset') {
    for (const l of String(execSync('/usr/sbin/ipset list palisade4')).split('\\n')) { const r = /^(\\S+) timeout (\\d+)/.exec(l); if (r) m[r[1].replace('/32', '')] = Number(r[2]); }
  } else {
    for (const l of String(execSync('/usr/sbin/iptables -S palisade')).split('\\n')) { const r = /-s (\\S+)\\/32 -j DROP/.exec(l); if (r) m[r[1]] = true; }
  }
  return m;
}
const done = () => console.log(JSON.stringify(out));
`;

/** Runs a child script (ESM, after PRELUDE) in namespace `ns`; returns the JSON it printed last. */
function child(ns: string, body: string, env: NodeJS.ProcessEnv = process.env): any {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', `${PRELUDE}\n${body}`], { env, encoding: 'utf8', timeout: 90_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** One namespace for a test, removed at its end. */
function namespace(t: { after(fn: () => void): void }, tag: string): string {
  const ns = `pal-ef${tag}-${ID}`;
  withNamespaces(
    t,
    () => must(`ip netns add ${ns}`),
    () => sh(`ip netns del ${ns}`),
  );
  return ns;
}

const within1pct = (got: number, want: number, what: string): void => assert.ok(Math.abs(got - want) <= want / 100, `${what}: kernel timeout ${got}, want ${want} within 1%`);

const skip = isRoot ? false : 'needs root for network namespaces';

describe('enforce under faults, against the real firewall tools', { skip }, () => {
  for (const name of ['nftables', 'ipset', 'iptables']) {
    it(`defect 1: ${name}: bans of 7 d, 30 d and 365 d reach the kernel with their timeout, refreshed past the cap`, { timeout: 60000 }, (t) => {
      const ns = namespace(t, name.slice(0, 2));
      const r = child(
        ns,
        `
const b = backend('${name}'); const e = enforcer(b);
await e.start();
out.maxTimeout = b.maxTimeout;
for (const [a, d] of [['198.18.50.7', 7], ['198.18.50.30', 30], ['198.18.50.65', 365]]) e.ban(ban(a, d * ${DAY}));
await e.flush();
out.first = kernel('${name}');
out.dueNow = e.refreshDue();
// A ban found in the kernel at init (another Enforcer, as after a restart) is refreshed too.
const e2 = enforcer(backend('${name}'));
await e2.start();
e2.watch(ban('198.18.50.65', 365 * ${DAY}), clock + Math.min(b.maxTimeout, 365 * ${DAY}));
out.watchDue = [e2.refreshDue(clock), e2.refreshDue(clock + 24 * ${DAY})];
await e2.flush();
clock += 24 * ${DAY};
out.due24 = e.refreshDue();
await e.flush();
out.second = kernel('${name}');
e.lift({ ban: ban('198.18.50.65', 1), reason: 'operator', at: clock });
await e.flush();
out.refreshing = e.metrics().refreshing;
out.third = kernel('${name}');
done();`,
      );
      assert.equal(r.results.filter((x: any) => x.status === 'applied').length, 4, JSON.stringify(r.results));
      assert.equal(r.dueNow, 0, 'nothing is due right after the bans');
      assert.deepEqual(r.watchDue, name === 'ipset' ? [0, 1] : [0, 0]);
      if (name === 'iptables') {
        assert.equal(r.maxTimeout, null); // Infinity in JSON
        assert.deepEqual(Object.keys(r.first).sort(), ['198.18.50.30', '198.18.50.65', '198.18.50.7']);
        assert.equal(r.due24, 0);
      } else if (name === 'nftables') {
        assert.ok(r.maxTimeout >= 365 * DAY * 10, `nft cap ${r.maxTimeout}`);
        within1pct(r.first['198.18.50.7'], 7 * DAY, '7 d');
        within1pct(r.first['198.18.50.30'], 30 * DAY, '30 d');
        within1pct(r.first['198.18.50.65'], 365 * DAY, '365 d');
        assert.equal(r.due24, 0, 'nft holds a year without refresh');
      } else {
        assert.equal(r.maxTimeout, CAP);
        within1pct(r.first['198.18.50.7'], 7 * DAY, '7 d');
        within1pct(r.first['198.18.50.30'], CAP, '30 d: the cap');
        within1pct(r.first['198.18.50.65'], CAP, '365 d: the cap');
        // 24 days on, 0.85 d of the cap is left: both long bans are re-added.
        assert.equal(r.due24, 2);
        within1pct(r.second['198.18.50.30'], 6 * DAY, '30 d ban after its refresh (6 d left)');
        within1pct(r.second['198.18.50.65'], CAP, '365 d ban after its refresh: the cap again');
        assert.deepEqual(r.refreshes.map((x: any) => x.key).sort(), ['198.18.50.30/32', '198.18.50.65/32', '198.18.50.65/32'], 'e2 refreshed the watched ban, e both long bans');
        for (const x of r.refreshes) assert.ok(x.left > 5 * DAY && x.left <= CAP, JSON.stringify(x));
      }
      assert.equal(r.refreshing, 0, 'a lift (and the last refresh) ends the refreshing');
      assert.equal(r.third['198.18.50.65'], undefined, 'the lifted ban left the kernel');
    });
  }

  const TOOL: Record<string, [string, string]> = { nftables: ['nft', '/usr/sbin/nft'], ipset: ['ipset', '/usr/sbin/ipset'], iptables: ['iptables-restore', '/usr/sbin/iptables-restore'] };
  for (const name of ['nftables', 'ipset', 'iptables']) {
    it(`defect 1: ${name}: one element the firewall refuses is bisected out and quarantined, the 99 others apply`, { timeout: 60000 }, (t) => {
      const ns = namespace(t, `q${name.slice(0, 2)}`);
      const bin = fakeTool(join(tempDir(t), 'bin'), ...TOOL[name]!, '198.18.51.66');
      const r = child(
        ns,
        `
const b = backend('${name}'); const e = enforcer(b);
await e.start();
for (let i = 1; i <= 100; i++) e.ban(ban('198.18.51.' + i, 3600));
await e.flush();
out.first = kernel('${name}');
out.pending = e.pendingCount;
out.healthy = e.healthy;
// The daemon lifts the quarantined ban: nothing goes to the firewall for it.
e.lift({ ban: ban('198.18.51.66', 3600), reason: 'quarantined', at: clock });
out.pendingAfterLift = e.pendingCount;
e.ban(ban('198.18.51.150', 3600));
await e.flush();
out.second = kernel('${name}');
out.metrics = e.metrics();
done();`,
        { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      );
      const q = r.results.filter((x: any) => x.status === 'quarantined');
      assert.equal(q.length, 1, JSON.stringify(q));
      assert.equal(q[0].key, '198.18.51.66/32');
      assert.match(q[0].error, /simulated refusal/);
      assert.equal(r.results.filter((x: any) => x.status === 'failed').length, 0);
      assert.equal(r.results.filter((x: any) => x.status === 'applied').length, 100);
      assert.equal(Object.keys(r.first).length, 99);
      assert.equal(r.first['198.18.51.66'], undefined);
      assert.equal(r.pending, 0);
      assert.equal(r.healthy, true);
      assert.equal(r.pendingAfterLift, 0);
      assert.ok(r.second['198.18.51.150'], 'a later ban still applies');
      assert.equal(r.metrics.quarantined, 1);
    });
  }

  it('defect 1: a missing nft, or one refusing every element, quarantines nothing; each op is reported failed once; all apply once it is back', { timeout: 60000 }, (t) => {
    const ns = namespace(t, 'sy');
    const bin = fakeTool(join(tempDir(t), 'bin'), 'nft', '/usr/sbin/nft', 'add element');
    const r = child(
      ns,
      `
const path = process.env.PATH;
const b = backend('nftables'); const e = enforcer(b);
await e.start();
process.env.PATH = '/nonexistent';
for (let i = 1; i <= 5; i++) e.ban(ban('198.18.52.' + i, 3600));
await e.flush();
await sleep(500); // several retries
out.missing = { results: out.results.splice(0), pendingKeys: e.pendingKeys(), healthy: e.healthy };
process.env.PATH = '${bin}:' + path; // the tool runs, refuses every element alone
await sleep(500);
out.refusing = { results: out.results.splice(0), pending: e.pendingCount, kernel: kernel('nftables') };
process.env.PATH = path;
for (let i = 0; i < 100 && e.pendingCount > 0; i++) await sleep(50);
out.back = { results: out.results.splice(0), kernel: kernel('nftables'), healthy: e.healthy };
done();`,
    );
    assert.deepEqual(
      r.missing.results.map((x: any) => [x.key, x.status]),
      [1, 2, 3, 4, 5].map((i) => [`198.18.52.${i}/32`, 'failed']),
    );
    assert.match(r.missing.results[0].error, /command not found/);
    assert.equal(r.missing.pendingKeys.length, 5);
    assert.equal(r.missing.healthy, false);
    assert.deepEqual(r.refusing.results, [], 'no quarantine, no second failed report');
    assert.equal(r.refusing.pending, 5);
    assert.deepEqual(r.refusing.kernel, {});
    assert.equal(r.back.results.filter((x: any) => x.status === 'applied').length, 5);
    assert.equal(Object.keys(r.back.kernel).length, 5);
    assert.equal(r.back.healthy, true);
  });

  it('defect 1: a ban whose end is not a finite number is refused, never queued', { timeout: 30000 }, (t) => {
    const ns = namespace(t, 'na');
    const r = child(
      ns,
      `
const b = backend('nftables'); const e = enforcer(b);
await e.start();
e.ban({ ...ban('198.18.53.1', 60), until: NaN });
e.ban({ ...ban('198.18.53.2', 60), until: Infinity });
e.ban(ban('198.18.53.3', 60));
out.pending = e.pendingCount;
await e.flush();
out.kernel = kernel('nftables');
done();`,
    );
    assert.deepEqual(
      r.results.map((x: any) => [x.key, x.status]),
      [
        ['198.18.53.1/32', 'quarantined'],
        ['198.18.53.2/32', 'quarantined'],
        ['198.18.53.3/32', 'applied'],
      ],
    );
    assert.match(r.results[0].error, /not a finite time/);
    assert.equal(r.pending, 1);
    assert.deepEqual(Object.keys(r.kernel), ['198.18.53.3']);
  });

  it('defect 4: runTool answers with exit 126 naming EMFILE when file descriptors are exhausted', { timeout: 30000 }, () => {
    const script = `
import { openSync } from 'node:fs';
import { runTool } from '${DIST}enforce/backend.js';
let n = 0;
try { for (;;) { openSync('/dev/null', 'r'); n++; } } catch (e) { if (e.code !== 'EMFILE') throw e; }
const r = await runTool('true', []);
console.log(JSON.stringify({ opened: n, ...r }));`;
    const r = spawnSync('bash', ['-c', `ulimit -n 40; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim());
    assert.equal(res.code, 126, r.stdout);
    assert.match(res.stderr, /EMFILE/);
  });

  it('defect 10: the table lock is exclusive in a namespace, names the holder, and is released', async () => {
    const name = `t${ID}`;
    const a = await lockTable('nftables', name);
    await assert.rejects(lockTable('nftables', name), (e: any) => {
      assert.equal(e.code, 'PAL_ERR_LOCKED');
      assert.match(e.message, new RegExp(`pid ${process.pid}\\).*nftables table ${name}; give this one another enforce.name`));
      return true;
    });
    const other = await lockTable('ipset', name); // another backend's table
    const other2 = await lockTable('nftables', `${name}x`);
    await a.release();
    const again = await lockTable('nftables', name);
    const dry = [await lockTable('dry-run', name), await lockTable('dry-run', name)];
    for (const l of [other, other2, again, ...dry]) await l.release();
  });

  it('defect 10: locks in two network namespaces do not conflict; a SIGKILLed holder frees its lock', { timeout: 30000 }, async (t) => {
    const ns1 = `pal-efl1-${ID}`;
    const ns2 = `pal-efl2-${ID}`;
    const children = withNamespaces(
      t,
      () => {
        must(`ip netns add ${ns1}`);
        must(`ip netns add ${ns2}`);
      },
      () => {
        sh(`ip netns del ${ns1}`);
        sh(`ip netns del ${ns2}`);
      },
    );
    const hold = `${PRELUDE}\nconst l = await lockTable('nftables', 'palisade'); console.log('locked ' + process.pid); setInterval(() => {}, 1000);`;
    const holder = spawn('ip', ['netns', 'exec', ns1, process.execPath, '--input-type=module', '-e', hold], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(holder);
    const pid = /locked (\d+)/.exec(await waitFor(holder, 'stdout', /locked \d+/, 10000))![1];
    const take = `try { const l = await lockTable('nftables', 'palisade'); out.ok = true; await l.release(); } catch (e) { out.ok = false; out.code = e.code; out.message = e.message; } done();`;
    assert.deepEqual(child(ns2, take), { results: [], refreshes: [], ok: true }, 'another namespace has its own tables and lock');
    const refused = child(ns1, take);
    assert.equal(refused.code, 'PAL_ERR_LOCKED');
    assert.match(refused.message, new RegExp(`pid ${pid}\\)`));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    assert.equal(child(ns1, take).ok, true, 'the kernel freed the dead holder’s lock');
  });
});
