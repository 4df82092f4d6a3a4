// The state database under faults, and the offline operator commands: rows out of range never
// break a read, malformed values are never written, lastBan for reconciliation, the origin kept
// faithfully; a corrupt file set aside, a read-only one still read, a full disk counted; the
// per-database lock; alerts and top; and the offline CLI (in a fresh network namespace, so the
// host firewall is untouched): input validated before anything is created, read commands create
// nothing, a failed firewall change exits 6 with the intent recorded. Needs root for namespaces,
// mounts and nft; those tests are skipped otherwise.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { defaultConfig, parseConfig } from '../src/config/load.js';
import { Cidr, IpAddr } from '../src/core/addr.js';
import type { Ban, BanOrigin, Decision } from '../src/core/notice.js';
import { PalisadeError } from '../src/core/errors.js';
import { ControlServer } from '../src/control/server.js';
import { Policy, policyConfig } from '../src/decide/policy.js';
import { operate } from '../src/cli/operator.js';
import { offline } from '../src/pipeline/offline.js';
import { Operator } from '../src/pipeline/operator.js';
import { lockState } from '../src/state/lock.js';
import { StateStore } from '../src/state/store.js';
import { CLI, sh, tempDir } from './helpers/cli.js';
import { exited, isRoot, must } from './helpers/netns.js';

const T0 = 1_800_000_000;
const ID = process.pid % 100000;
const root = isRoot ? false : 'needs root (namespaces, mounts, nft)';

function ban(scope: string, since = T0, until = T0 + 3600, origin: BanOrigin = 'detector'): Ban {
  const c = Cidr.parse(scope)!;
  return { scope: c, key: c.toString(), since, until, reason: 'test', kind: 'syn_scan', noticeIds: [], offence: 1, origin };
}

function decision(src: string, t = T0, evidence: unknown = { ports: 20 }, action: 'ban' | 'alert' = 'ban', kind = 'syn_scan'): Decision {
  const s = IpAddr.parse(src)!;
  return {
    action,
    reason: 'policy',
    duration: 600,
    ban: action === 'ban' ? ban(src, t, t + 600) : null,
    protectedBy: null,
    notice: {
      id: 1,
      kind,
      detector: 'port_scan',
      tsSec: t,
      tsNsec: 0,
      src: s,
      dst: IpAddr.parse('198.18.0.2'),
      srcPort: 40000,
      dstPort: 22,
      proto: 6,
      severity: 2,
      signatureId: 1,
      signature: 'PALISADE test scan',
      category: 'test',
      evidence: evidence as Record<string, unknown>,
    },
  };
}

const isState = (e: unknown): boolean => e instanceof PalisadeError && e.code === 'PAL_ERR_STATE';

/** Inserts a raw ban row, bypassing validation (what an old bug or a hand edit left behind). */
function rawBan(s: StateStore, scope: string, since: unknown, until: unknown, notices = '[]', lifted: unknown = null): void {
  s.db
    .prepare("INSERT INTO bans (scope, since, until, reason, kind, offence, origin, notices, lifted_at) VALUES (?, ?, ?, 'r', 'k', 1, 'operator', ?, ?)")
    .run(scope, since, until, notices, lifted);
}

/**
 * A scratch folder whose clean-ups (`defer`) run last-in first-out before it is removed, so that
 * stores close before their mount goes, and mounts go before the folder.
 */
function scratch(t: TestContext): { dir: string; defer: (f: () => void) => void; mount: (sub: string, args: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-test-'));
  const undo: (() => void)[] = [];
  t.after(() => {
    for (const f of undo.reverse()) f();
    sh(`chattr -R -i ${dir} 2>/dev/null`);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    defer: (f) => undo.push(f),
    mount(sub, args) {
      const m = join(dir, sub);
      mkdirSync(m, { recursive: true });
      must(`mount ${args} ${m}`);
      undo.push(() => void sh(`umount -l ${m}`));
      return m;
    },
  };
}

describe('state: reading survives rows out of range; nothing malformed is written', () => {
  it('defect 3: rows out of range never make bansInForce, history, offences, lastBan, alerts or top throw; they are skipped and counted', (t) => {
    const s = new StateStore(join(tempDir(t), 'p.db'));
    t.after(() => s.close());
    rawBan(s, '198.18.1.1/32', T0, '1796192069.061abc'); // "seconds":"abc" of old
    rawBan(s, '198.18.1.2/32', T0, 'NaN');
    rawBan(s, '198.18.1.3/32', T0, 1e308); // clamped to ten years
    rawBan(s, '198.18.1.4/32', -5, -1); // ended long ago
    rawBan(s, 'not-a-scope', T0, T0 + 60);
    rawBan(s, '198.18.1.6/32', T0, T0 + 60, 'not json'); // notices clamped to []
    rawBan(s, '198.18.1.7/32', T0, T0 + 60, '[]', 'yesterday'); // a lift time that is no time
    s.db.prepare("INSERT INTO offences (scope, count, last) VALUES ('garbage', 'x', 'y'), ('198.18.1.3/32', 1e308, ?)").run(T0);
    s.db
      .prepare(
        `INSERT INTO notices (ts, src, dst, src_port, dst_port, proto, kind, detector, severity, signature, action, reason, evidence)
         VALUES ('soon', '198.18.1.1', NULL, 1, 2, 6, 'syn_scan', 'd', 2, 's', 'ban', 'r', '{}'),
                (?, 'nowhere', NULL, 1, 2, 6, 'syn_scan', 'd', 2, 's', 'ban', 'r', '{}'),
                (?, '198.18.1.1', NULL, 1, 2, 6, 'syn_scan', 'd', 2, 's', 'alert', 'r', '{not json')`,
      )
      .run(T0, T0 + 1);
    const bans = s.bansInForce(T0 + 1);
    assert.deepEqual(bans.map((b) => b.key).sort(), ['198.18.1.3/32', '198.18.1.6/32']);
    const far = bans.find((b) => b.key === '198.18.1.3/32')!;
    assert.equal(far.until, T0 + 10 * 365 * 86400, 'an end of 1e308 is clamped to ten years');
    assert.deepEqual(bans.find((b) => b.key === '198.18.1.6/32')!.noticeIds, []);
    assert.ok(s.badRows >= 3, `bad rows counted: ${s.badRows}`);
    assert.deepEqual(s.offences(0), [{ key: '198.18.1.3/32', count: 1000, last: T0 }]);
    const p = new Policy(policyConfig(defaultConfig()));
    p.restore(bans, s.offences(0), T0 + 1);
    const op = new Operator(p, s, null, () => T0 + 1);
    assert.equal(op.list().length, 2);
    const h = op.history('198.18.1.0/24') as { bans: unknown[]; notices: { evidence: unknown }[] };
    assert.deepEqual(h.notices.map((n) => n.evidence), ['{not json'], 'evidence that is not JSON is shown as text');
    type H = { bans: { until: string; lifted: { at: string } | null }[]; notices: unknown[] };
    const one = op.history('198.18.1.1') as H;
    assert.deepEqual([one.bans.length, one.notices.length], [0, 1], 'the bad ban row and the bad notice are skipped');
    assert.equal((op.history('198.18.1.3') as H).bans[0]!.until, new Date((T0 + 10 * 365 * 86400) * 1000).toISOString());
    assert.equal((op.history('198.18.1.4') as H).bans[0]!.until, new Date(0).toISOString(), 'a negative time is clamped');
    assert.equal((op.history('198.18.1.7') as H).bans[0]!.lifted!.at, new Date((T0 + 60) * 1000).toISOString());
    assert.equal(s.lastBan('198.18.1.1')?.scope ?? null, null, 'a bad newest row is skipped');
    assert.equal(s.lastBan('198.18.1.7')!.lifted_at, T0 + 60, 'a lift time that is no time is clamped to the end');
    assert.equal(op.alerts({ since: null, kind: null, limit: 10 }).length, 1);
    assert.deepEqual(
      op.top({ since: null, limit: 10 }).map((r) => r.src),
      ['198.18.1.1'],
    );
    const before = s.badRows;
    s.bansInForce(T0 + 1);
    assert.equal(s.badRows, before, 'the same bad row is counted once');
  });

  it('defect 3: recordBan, recordDecision and recordLift refuse malformed values with PAL_ERR_STATE and write nothing', (t) => {
    const s = StateStore.open(join(tempDir(t), 'p.db'));
    t.after(() => s.close());
    for (const b of [ban('198.18.2.1', T0, Number.NaN), ban('198.18.2.1', T0, Infinity), ban('198.18.2.1', Number.NaN), ban('198.18.2.1', T0, T0 - 10)]) {
      assert.throws(() => s.recordBan(b), isState);
    }
    assert.throws(() => s.recordBan({ ...ban('198.18.2.1'), key: '198.18.2.1abc' }), isState);
    assert.throws(() => s.recordBan({ ...ban('198.18.2.1'), offence: 1.5 }), isState);
    const d = decision('198.18.2.2');
    assert.throws(() => s.recordDecision({ ...d, notice: { ...d.notice, tsSec: Number.NaN } }), isState);
    assert.throws(() => s.recordDecision({ ...d, ban: ban('198.18.2.2', T0, Number.NaN) }), isState);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => s.recordDecision(decision('198.18.2.3', T0, cyclic)), isState);
    assert.throws(() => s.recordLift({ ban: ban('198.18.2.1'), reason: 'operator', at: Number.NaN }), isState);
    assert.deepEqual(s.counts(), { notices: 0, bans: 0, offenders: 0 });
    assert.equal(s.health().writeErrors, 0, 'a refused value is not a write failure');
  });
});

describe('state: the database is the truth', () => {
  it('defect 2: lastBan gives the newest row for exactly that scope, lifted or not; origins are kept as given', (t) => {
    const path = join(tempDir(t), 'p.db');
    let s = new StateStore(path);
    s.recordBan(ban('198.18.3.1', T0, T0 + 600, 'operator'));
    s.recordLift({ ban: ban('198.18.3.1'), reason: 'operator', at: T0 + 5 });
    s.recordBan(ban('198.18.3.2', T0, T0 + 600, 'feed'));
    s.recordBan(ban('198.18.3.3', T0, T0 + 600, 'firewall'));
    s.recordBan(ban('198.18.3.4', T0, T0 + 60));
    s.recordBan(ban('198.18.3.4', T0 + 1, T0 + 900, 'operator')); // supersedes
    rawBan(s, '198.18.3.5/32', T0, T0 + 600);
    s.db.prepare("UPDATE bans SET origin = 'sensor-b' WHERE scope = '198.18.3.5/32'").run();
    s.close();
    s = new StateStore(path);
    t.after(() => s.close());
    const one = s.lastBan('198.18.3.1')!;
    assert.equal(one.lift_reason, 'operator', 'an operator unban: the firewall element is to be deleted, not adopted');
    assert.equal(s.lastBan('198.18.3.1/32')!.id, one.id, 'an address and its host prefix are the same scope');
    assert.equal(s.lastBan('198.18.3.0/24'), null, 'exact scope only');
    assert.equal(s.lastBan('198.18.3.9'), null, 'no row: adopt');
    assert.equal(s.lastBan('garbage'), null);
    const four = s.lastBan('198.18.3.4')!;
    assert.equal([four.origin, four.until, four.lifted_at].join(), `operator,${T0 + 900},`);
    const byKey = new Map(s.bansInForce(T0 + 10).map((b) => [b.key, b.origin as string]));
    assert.deepEqual(Object.fromEntries(byKey), {
      '198.18.3.2/32': 'feed',
      '198.18.3.3/32': 'firewall',
      '198.18.3.4/32': 'operator',
      '198.18.3.5/32': 'sensor-b',
    });
  });
});

describe('state: a corrupt, read-only or full database', () => {
  const aside = (dir: string): string[] => readdirSync(dir).filter((f) => /\.corrupt-\d{8}T\d{6}Z$/.test(f));

  it('defect 11: a file that is not a database is set aside with a timestamp, a fresh one started, and health reports it', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'p.db');
    writeFileSync(path, 'this is not a database\n'.repeat(200));
    writeFileSync(`${path}-wal`, 'junk');
    const errors: PalisadeError[] = [];
    const s = StateStore.open(path, { onError: (e) => errors.push(e) });
    t.after(() => s.close());
    const h = s.health();
    assert.equal(h.ok, false);
    assert.equal(h.mode, 'rw');
    assert.equal(aside(dir).length, 1);
    assert.equal(h.setAside, join(dir, aside(dir)[0]!));
    assert.match(h.problems.join(), /corrupt.*set aside/);
    assert.equal(readFileSync(h.setAside!, 'utf8').slice(0, 12), 'this is not ');
    s.recordBan(ban('198.18.4.1'));
    assert.equal(s.bansInForce(T0 + 1).length, 1, 'the fresh database works');
  });

  it('defect 11: a truncated real database is set aside too', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'p.db');
    const s0 = new StateStore(path);
    for (let i = 0; i < 300; i++) s0.recordDecision(decision(`198.18.5.${i % 250}`, T0 + i, { pad: 'x'.repeat(400) }, 'alert'));
    s0.db.pragma('wal_checkpoint(TRUNCATE)');
    s0.close();
    truncateSync(path, 40000);
    const s = StateStore.open(path);
    t.after(() => s.close());
    assert.equal(aside(dir).length, 1, s.health().problems.join());
    assert.equal(s.health().ok, false);
    assert.deepEqual(s.counts(), { notices: 0, bans: 0, offenders: 0 });
  });

  it('defect 11: a database from a newer schema is still refused', (t) => {
    const path = join(tempDir(t), 'p.db');
    const s = new StateStore(path);
    s.db.pragma('user_version = 9');
    s.close();
    assert.throws(() => StateStore.open(path), (e: Error) => isState(e) && /newer Palisade/.test(e.message));
  });

  it('defect 11: a read-only database (read-only mount) is still read: bans and offences restored, writes skipped and counted', { skip: root }, (t) => {
    const sc = scratch(t);
    const dir = join(sc.dir, 'ro');
    mkdirSync(dir);
    const path = join(dir, 'p.db');
    const w = new StateStore(path);
    w.recordBan(ban('198.18.6.1', T0, T0 + 3600));
    w.close();
    sc.mount('ro', `--bind ${dir}`);
    must(`mount -o remount,bind,ro ${dir}`);
    const errors: PalisadeError[] = [];
    const s = StateStore.open(path, { onError: (e) => errors.push(e) });
    sc.defer(() => s.close());
    assert.equal(s.health().mode, 'ro');
    assert.equal(s.health().ok, false);
    assert.match(s.health().problems.join(), /read-only/);
    assert.deepEqual(s.bansInForce(T0 + 1).map((b) => b.key), ['198.18.6.1/32']);
    assert.deepEqual(s.offences(0).map((o) => o.key), ['198.18.6.1/32']);
    s.recordBan(ban('198.18.6.2'));
    s.recordDecision(decision('198.18.6.3'));
    s.recordLift({ ban: ban('198.18.6.1'), reason: 'operator', at: T0 + 2 });
    assert.equal(s.prune(T0), 0);
    assert.equal(s.health().writeErrors, 4);
    assert.deepEqual(readdirSync(dir), ['p.db']);
    // The CLI's read-only store reads it too.
    const r = StateStore.openReadOnly(path)!;
    assert.equal(r.bansInForce(T0 + 1).length, 1);
    r.close();
  });

  it('defect 11: an immutable database file (chattr +i) is read, writes skipped and counted', { skip: root }, (t) => {
    const sc = scratch(t);
    const path = join(sc.dir, 'p.db');
    const w = new StateStore(path);
    w.recordBan(ban('198.18.6.1', T0, T0 + 3600));
    w.close();
    if (sh(`chattr +i ${path}`).code !== 0) return t.skip('chattr +i is not supported here');
    const s = StateStore.open(path);
    sc.defer(() => s.close());
    assert.equal(s.health().mode, 'ro', s.health().problems.join());
    assert.deepEqual(s.bansInForce(T0 + 1).map((b) => b.key), ['198.18.6.1/32']);
    s.recordBan(ban('198.18.6.2'));
    assert.equal(s.health().writeErrors, 1);
  });

  it('defect 11: on a full disk, writes fail without throwing; they are counted and passed to onError', { skip: root }, (t) => {
    const sc = scratch(t);
    const dir = sc.mount('tiny', '-t tmpfs -o size=256k tmpfs');
    const errors: PalisadeError[] = [];
    const s = StateStore.open(join(dir, 'p.db'), { onError: (e) => errors.push(e) });
    sc.defer(() => s.close());
    assert.equal(s.health().ok, true);
    sh(`dd if=/dev/zero of=${dir}/fill bs=4k 2>/dev/null`);
    let last = 0;
    for (let i = 0; i < 200; i++) last = s.recordDecision(decision(`198.18.7.${i % 250}`, T0 + i, { pad: 'x'.repeat(4000) }));
    s.recordBan(ban('198.18.8.1'));
    s.prune(T0 + 100);
    assert.equal(last, -1, 'the last decisions were not recorded');
    const h = s.health();
    assert.ok(h.writeErrors > 0 && h.writeErrors === errors.length, `${h.writeErrors} write errors, ${errors.length} reported`);
    assert.equal(h.ok, false);
    assert.match(h.lastError!, /full|disk|SQLITE/i);
    assert.ok(errors.every(isState));
    sh(`rm -f ${dir}/fill`);
    s.recordBan(ban('198.18.8.2'));
    assert.ok(s.bansInForce(T0 + 1).some((b) => b.key === '198.18.8.2/32'), 'writes work again once there is room');
  });
});

describe('state: one daemon per database', () => {
  it('defect 10: the lock refuses a second holder, takes over a stale lock, and is released', async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'p.db');
    const a = lockState(db);
    assert.equal(readFileSync(`${db}.lock`, 'utf8').trim(), String(process.pid));
    assert.throws(
      () => lockState(db),
      (e: Error) => e instanceof PalisadeError && e.code === 'PAL_ERR_LOCKED' && e.message === `${db}: in use by palisade daemon pid ${process.pid}`,
    );
    a.release();
    assert.ok(!existsSync(`${db}.lock`));
    // A dead owner.
    const child = spawn(process.execPath, ['-e', '']);
    await exited(child);
    writeFileSync(`${db}.lock`, `${child.pid}\n`);
    const b = lockState(db);
    assert.equal(readFileSync(`${db}.lock`, 'utf8').trim(), String(process.pid), 'a dead owner is taken over');
    b.release();
    // A live process that is not palisade (a recycled pid), and an empty file (a crash at creation).
    const sleeper = spawn('sleep', ['30']);
    t.after(() => sleeper.kill());
    for (const content of [`${sleeper.pid}\n`, '']) {
      writeFileSync(`${db}.lock`, content);
      const c = lockState(db);
      assert.equal(readFileSync(`${db}.lock`, 'utf8').trim(), String(process.pid));
      c.release();
    }
    // A live node process holds it.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    t.after(() => other.kill());
    writeFileSync(`${db}.lock`, `${other.pid}\n`);
    assert.throws(() => lockState(db), new RegExp(`in use by palisade daemon pid ${other.pid}`));
    other.kill();
    await exited(other);
    lockState(db).release();
    assert.equal(lockState(':memory:').path, null);
  });
});

describe('state: alerts and top', () => {
  it('defect 18: alerts (newest first, by kind and age) and top (sources by notices, then bans) from the database', (t) => {
    const s = new StateStore(join(tempDir(t), 'p.db'));
    t.after(() => s.close());
    const p = new Policy(policyConfig(defaultConfig()));
    s.recordDecision(decision('198.18.9.1', T0, {}, 'alert', 'udp_scan'));
    s.recordDecision(decision('198.18.9.1', T0 + 10, {}, 'alert', 'syn_scan'));
    s.recordDecision(decision('198.18.9.2', T0 + 20, {}, 'ban', 'syn_scan'));
    s.recordDecision(decision('198.18.9.1', T0 + 30, {}, 'ban', 'syn_scan'));
    const op = new Operator(p, s, null, () => T0 + 40);
    const all = op.alerts({ since: null, kind: null, limit: 100 }) as { src: string; time: string; kind: string }[];
    assert.deepEqual(
      all.map((a) => [a.src, a.kind]),
      [
        ['198.18.9.1', 'syn_scan'],
        ['198.18.9.2', 'syn_scan'],
        ['198.18.9.1', 'syn_scan'],
        ['198.18.9.1', 'udp_scan'],
      ],
    );
    assert.equal(all[0]!.time, new Date((T0 + 30) * 1000).toISOString());
    assert.equal(op.alerts({ since: 25, kind: null, limit: 100 }).length, 2, 'the last 25 s');
    assert.equal(op.alerts({ since: null, kind: 'udp_scan', limit: 100 }).length, 1);
    assert.equal(op.alerts({ since: null, kind: null, limit: 1 }).length, 1);
    assert.deepEqual(op.top({ since: null, limit: 10 }), [
      { src: '198.18.9.1', notices: 3, bans: 1, last: new Date((T0 + 30) * 1000).toISOString() },
      { src: '198.18.9.2', notices: 1, bans: 1, last: new Date((T0 + 20) * 1000).toISOString() },
    ]);
    assert.deepEqual(op.top({ since: 25, limit: 10 }).map((r) => [r.src, r.notices]), [['198.18.9.1', 1], ['198.18.9.2', 1]]);
  });
});

describe('operator: a failed firewall change is not a success', () => {
  it('defect 9: a daemon answering that the ban did not reach the firewall makes the CLI fail with PAL_ERR_FIREWALL', async (t) => {
    const dir = tempDir(t);
    const socket = join(dir, 'palisade.sock');
    const cfg = parseConfig(`state:\n  path: ${join(dir, 'p.db')}\ncontrol:\n  socket: ${socket}\n`, 'test.yaml');
    const views = { scope: '198.18.10.1', remaining: 60, enforcement: { status: 'failed', error: 'nft: simulated' } };
    const server = new ControlServer(socket, async (r) => (r.cmd === 'ban' ? views : r.cmd === 'unban' ? [{ ...views, enforcement: { status: 'applied' } }] : []));
    await server.listen();
    t.after(() => server.close());
    await assert.rejects(
      operate(cfg, { cmd: 'ban', target: '198.18.10.1', seconds: 60, reason: null }),
      (e: Error) => e instanceof PalisadeError && e.code === 'PAL_ERR_FIREWALL' && /nft: simulated/.test(e.message) && /retrying/.test(e.message),
    );
    assert.equal(((await operate(cfg, { cmd: 'unban', target: '198.18.10.1' })).result as unknown[]).length, 1);
    // Bad input never leaves the process: PAL_ERR_USAGE before the socket or the database.
    await assert.rejects(operate(cfg, { cmd: 'ban', target: 'notanip', seconds: null, reason: null }), (e: Error) => e instanceof PalisadeError && e.code === 'PAL_ERR_USAGE');
    assert.ok(!existsSync(join(dir, 'p.db')));
  });

  it('defect 8 and 18: offline read commands (status, list, history, alerts, top) create nothing when there is no database', async (t) => {
    const dir = join(tempDir(t), 'state');
    const cfg = parseConfig(`state:\n  path: ${join(dir, 'p.db')}\ncontrol:\n  socket: ''\n`, 'test.yaml');
    for (const req of [
      { cmd: 'status' },
      { cmd: 'list' },
      { cmd: 'history', target: '198.18.11.1' },
      { cmd: 'alerts', since: null, kind: null, limit: 10 },
      { cmd: 'top', since: 3600, limit: 10 },
      { cmd: 'unban', target: '198.18.11.1' },
    ] as const) {
      const r = await offline(cfg, req as never);
      assert.match(r.warnings.join(), /nothing on record/, req.cmd);
      if (req.cmd === 'status') assert.equal((r.result as { state: { exists: boolean } }).state.exists, false);
      else if (req.cmd === 'history') assert.deepEqual((r.result as { bans: unknown[] }).bans, []);
      else assert.deepEqual(r.result, [], req.cmd);
    }
    assert.ok(!existsSync(dir), 'not even the folder');
  });
});

describe('offline CLI in a fresh network namespace', { skip: root }, () => {
  const NS = `pal-sf-${ID}`;
  const OWN = '198.18.12.2';
  const GW = '198.18.12.1';

  function lab(t: TestContext): { dir: string; db: string; cli: (args: string[], path?: string) => { code: number; stdout: string; stderr: string }; table: () => boolean } {
    const dir = tempDir(t);
    t.after(() => sh(`ip netns del ${NS}`));
    sh(`ip netns del ${NS}`);
    must(`ip netns add ${NS}`);
    must(`ip -n ${NS} link set lo up`);
    must(`ip -n ${NS} link add d0 type veth peer name d1`);
    must(`ip -n ${NS} link set d1 up`);
    must(`ip -n ${NS} addr add ${OWN}/24 dev d0`);
    must(`ip -n ${NS} link set d0 up`);
    must(`ip -n ${NS} route add default via ${GW}`);
    const db = join(dir, 'state', 'p.db');
    const cfg = join(dir, 'palisade.yaml');
    writeFileSync(cfg, `state:\n  path: ${db}\ncontrol:\n  socket: ${join(dir, 'palisade.sock')}\nenforce:\n  backend: nftables\n  retry_initial: 100ms\n  retry_max: 200ms\n`);
    return {
      dir,
      db,
      cli: (args, path = process.env.PATH!) => sh(`ip netns exec ${NS} env PATH=${path} SSH_CONNECTION= ${process.execPath} ${CLI} ${args.join(' ')} -c ${cfg}`),
      table: () => sh(`ip netns exec ${NS} nft list table inet palisade`).code === 0,
    };
  }

  it('defect 8: a bad address (exit 2) or a protected one (exit 9) creates neither the database nor the firewall table', (t) => {
    const l = lab(t);
    let r = l.cli(['ban', 'notanip']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /PAL_ERR_USAGE/);
    for (const [target, why] of [
      [OWN, /own address/],
      [GW, /default gateway/],
      ['198.18.12.0/24', /own address/],
    ] as const) {
      r = l.cli(['ban', target]);
      assert.equal(r.code, 9, `${target}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    assert.ok(!existsSync(join(l.dir, 'state')), 'no database, no folder');
    assert.ok(!l.table(), 'no table inet palisade');
    for (const args of [['status'], ['history', '198.18.12.7'], ['bans', 'list'], ['unban', '198.18.12.7']]) {
      r = l.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.ok(!existsSync(join(l.dir, 'state')), 'read commands create nothing');
    assert.ok(!l.table());
    // A good ban creates both.
    r = l.cli(['ban', '198.18.12.7', '--for', '1h']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(l.table());
    assert.match(sh(`ip netns exec ${NS} nft list set inet palisade ban4`).stdout, /198\.18\.12\.7/);
  });

  it('defect 9: a ban or unban the firewall did not take exits 6, with the intent recorded for the daemon', (t) => {
    const l = lab(t);
    // No nft on PATH at all.
    let r = l.cli(['ban', '198.18.12.8', '--for', '1h', '--reason', 'no-nft'], '/nonexistent');
    assert.equal(r.code, 6, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /PAL_ERR_FIREWALL/);
    assert.match(r.stderr, /the daemon applies it when it starts/);
    assert.doesNotMatch(r.stdout, /banned/);
    // A failing nft.
    const bin = join(l.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'nft'), '#!/bin/sh\necho "Error: simulated failure" >&2\nexit 1\n');
    chmodSync(join(bin, 'nft'), 0o755);
    r = l.cli(['ban', '198.18.12.9', '--for', '1h'], `${bin}:/usr/bin:/bin`);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /simulated failure/);
    const s = StateStore.openReadOnly(l.db)!;
    const eight = s.lastBan('198.18.12.8')!;
    assert.deepEqual([eight.origin, eight.reason, eight.lifted_at], ['operator', 'no-nft', null], 'the intent is recorded');
    assert.equal(s.lastBan('198.18.12.9')!.lifted_at, null);
    s.close();
    assert.ok(!l.table());
    r = l.cli(['unban', '198.18.12.9'], `${bin}:/usr/bin:/bin`);
    assert.equal(r.code, 6, r.stderr);
    const s2 = StateStore.openReadOnly(l.db)!;
    assert.equal(s2.lastBan('198.18.12.9')!.lift_reason, 'operator', 'the unban is recorded');
    s2.close();
    // With the real nft, a ban works again.
    r = l.cli(['ban', '198.18.12.10', '--for', '1h']);
    assert.equal(r.code, 0, r.stderr);
  });
});
