// Output faults (issue 10): sinks that count and report write and reopen faults instead of
// throwing (a full tmpfs, a path that became a directory, /dev/full), and recover by themselves;
// replay's output errors (exit 5), argument checks and summaries; honest alert actions and the
// `ban` audit-trail event.

import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { IpAddr } from '../src/core/addr.js';
import type { PalisadeError } from '../src/core/errors.js';
import type { Ban, BanEvent, Decision } from '../src/core/notice.js';
import { LinkType } from '../src/core/packet.js';
import { formatAlertLine, formatBanLine } from '../src/output/console.js';
import { alertEvent, banEvent, eveTimestamp, eveTimestampOf } from '../src/output/eve.js';
import { Outputs } from '../src/output/outputs.js';
import { FileSink, StreamSink } from '../src/output/sinks.js';
import { F, eth, ipv4, pcapFile, tcp, type Rec } from '../tools/craft.js';
import { CLI, palisade, sh, tempDir } from './helpers/cli.js';

const T0 = 1764000000; // 2025-11-24T16:00:00Z

const notice: Decision['notice'] = {
  id: 7,
  kind: 'syn_scan',
  detector: 'port_scan',
  tsSec: T0,
  tsNsec: 0,
  src: IpAddr.parse('198.18.7.7')!,
  dst: IpAddr.parse('198.18.0.2')!,
  srcPort: 40000,
  dstPort: 22,
  proto: 6,
  severity: 2,
  signatureId: 9000002,
  signature: 'PALISADE SYN scan',
  category: 'Attempted Information Leak',
  evidence: {},
};

const ban: Ban = {
  scope: null as never,
  key: '198.18.7.7/32',
  since: T0,
  until: T0 + 600,
  reason: 'syn_scan',
  kind: 'syn_scan',
  noticeIds: [7],
  offence: 1,
  origin: 'detector',
};

const banDecision = (enforcement?: Decision['enforcement']): Decision => ({
  action: 'ban',
  notice,
  reason: 'policy',
  duration: 600,
  ban,
  protectedBy: null,
  ...(enforcement ? { enforcement } : {}),
});

/** An Outputs with one file sink and recorded hook calls. */
function recorded(sink: FileSink): { out: Outputs; errors: PalisadeError[]; recovered: string[] } {
  const errors: PalisadeError[] = [];
  const recovered: string[] = [];
  const out = new Outputs({ onError: (e) => errors.push(e), onRecovered: (p) => recovered.push(p) });
  out.add(sink, ['alert', 'stats', 'ban'], false);
  return { out, errors, recovered };
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l);

/** Mounts a tmpfs of `size` on a new directory, unmounted after the test. */
function tinyTmpfs(t: { after: (fn: () => void) => void }, size: string): string {
  const d = mkdtempSync(join(tmpdir(), 'palisade-tmpfs-'));
  const r = sh(`mount -t tmpfs -o size=${size} tmpfs ${d}`);
  t.after(() => {
    sh(`umount -l ${d}`); // lazy: a sink left open by a failing test must not keep it mounted
    rmdirSync(d);
  });
  assert.equal(r.code, 0, r.stderr);
  return d;
}

/** Fills a filesystem: writes `path` until ENOSPC. */
function fill(path: string): void {
  assert.throws(() => writeFileSync(path, Buffer.alloc(1 << 20)), /ENOSPC/);
}

describe('defect 4: sinks count and report faults instead of throwing', () => {
  it('defect 4: a full filesystem is counted and reported once; freeing space recovers, with no line lost or cut', (t) => {
    const mnt = tinyTmpfs(t, '64k');
    const path = join(mnt, 'eve.json');
    const { out, errors, recovered } = recorded(new FileSink(path, { retryMs: 0 }));
    fill(join(mnt, 'filler'));
    let total = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++, total++) out.alert(banDecision({ status: 'applied' }));
      assert.doesNotThrow(() => out.flush());
    }
    const [h] = out.health();
    assert.equal(h!.ok, false);
    assert.ok(h!.errors >= 1);
    assert.equal(h!.dropped_lines, 0);
    assert.match(h!.last_error!, /ENOSPC/);
    assert.equal(errors.length, 1, 'one report per fault streak');
    assert.equal(errors[0]!.code, 'PAL_ERR_OUTPUT_WRITE');
    assert.deepEqual(recovered, []);

    rmSync(join(mnt, 'filler'));
    out.flush();
    assert.equal(out.health()[0]!.ok, true);
    assert.deepEqual(recovered, [path]);
    out.close();
    const got = lines(path);
    assert.equal(got.length, total, 'the backlog was written after recovery');
    for (const l of got) assert.equal(JSON.parse(l).event_type, 'alert', 'no line is cut by a partial write');
  });

  it('defect 4: while failing, the backlog is capped: the oldest lines are dropped and counted', (t) => {
    const mnt = tinyTmpfs(t, '64k');
    const path = join(mnt, 'eve.json');
    const { out } = recorded(new FileSink(path, { maxBacklog: 8192 }));
    fill(join(mnt, 'filler'));
    for (let i = 0; i < 500; i++) out.alert(banDecision());
    out.flush();
    const dropped = out.health()[0]!.dropped_lines;
    assert.ok(dropped > 0);
    rmSync(join(mnt, 'filler'));
    out.close();
    const got = lines(path);
    for (const l of got) JSON.parse(l);
    assert.equal(got.length + dropped, 500);
  });

  it('defect 4: a reopen onto a path that became a directory keeps the old file, then recovers when fixed', (t) => {
    const d = tempDir(t);
    const path = join(d, 'eve.json');
    const { out, errors, recovered } = recorded(new FileSink(path, { retryMs: 0 }));
    out.alert(banDecision());
    out.flush();
    renameSync(path, `${path}.1`);
    mkdirSync(path);
    assert.doesNotThrow(() => out.reopen());
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'PAL_ERR_OUTPUT_OPEN');
    assert.match(errors[0]!.message, /EISDIR/);
    assert.equal(out.health()[0]!.ok, false);
    out.alert(banDecision());
    assert.doesNotThrow(() => out.flush());
    assert.equal(lines(`${path}.1`).length, 2, 'still written, to the old file');
    assert.equal(errors.length, 1, 'the retries belong to the same streak');

    rmdirSync(path);
    out.alert(banDecision());
    out.flush();
    assert.deepEqual(recovered, [path]);
    assert.equal(out.health()[0]!.ok, true);
    out.close();
    assert.equal(lines(path).length, 1, 'written to the new file once it could be opened');
  });

  it('defect 4: /dev/full as the EVE file is counted, never thrown (strict mode throws PAL_ERR_OUTPUT_WRITE)', () => {
    const { out, errors } = recorded(new FileSink('/dev/full', { retryMs: 0 }));
    for (let i = 0; i < 10; i++) out.alert(banDecision());
    assert.doesNotThrow(() => out.flush());
    out.alert(banDecision());
    assert.doesNotThrow(() => out.flush());
    assert.doesNotThrow(() => out.close());
    const h = out.health()[0]!;
    assert.equal(h.ok, false);
    assert.ok(h.errors >= 2);
    assert.equal(h.dropped_lines, 11, 'lines still unwritten at close are counted as lost');
    assert.equal(errors.length, 1);

    const strict = new FileSink('/dev/full', { strict: true });
    strict.write('{}');
    assert.throws(() => strict.flush(), { code: 'PAL_ERR_OUTPUT_WRITE' });
  });

  it('defect 4: a stream that fails (EPIPE) is counted and reported once, never thrown', async () => {
    const broken = (): Writable => new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    const errors: PalisadeError[] = [];
    const out = new Outputs({ onError: (e) => errors.push(e) });
    out.add(new StreamSink(broken()), ['alert'], false);
    out.alert(banDecision());
    out.flush();
    await new Promise((r) => setImmediate(r));
    out.alert(banDecision());
    assert.doesNotThrow(() => out.close());
    assert.deepEqual(out.health(), [{ path: '-', ok: false, errors: 1, dropped_lines: 2, last_error: '-: cannot write events: write EPIPE' }]);
    assert.equal(errors.length, 1);

    const strict = new StreamSink(broken(), { strict: true });
    strict.write('{}');
    strict.flush();
    await new Promise((r) => setImmediate(r));
    assert.throws(() => strict.write('{}'), { code: 'PAL_ERR_OUTPUT_WRITE' });
  });
});

// --- replay through the CLI --------------------------------------------------------------------

const synFrom = (src: string, dport: number) => eth(0x0800, ipv4({ src, dst: '198.18.0.2', proto: 6 }, tcp({ sport: 40000, dport, flags: F.SYN })));

function capture(dir: string, name = 'a.pcap', n = 50): string {
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) recs.push({ t: T0 + i * 0.01, data: synFrom('198.18.5.5', 1 + i) });
  const f = join(dir, name);
  writeFileSync(f, pcapFile(LinkType.ETHERNET, recs));
  return f;
}

const noStack = (stderr: string): void => assert.doesNotMatch(stderr, /\n\s+at |internal error/);

describe('defect 5: an output path that cannot be created', () => {
  it('defect 5: replay -q --eve /proc/nope/x exits 5 at once with the reason', (t) => {
    const f = capture(tempDir(t));
    const t0 = Date.now();
    const r = palisade(['replay', '-q', '--eve', '/proc/nope/x', f], { timeout: 20_000 });
    assert.equal(r.code, 5, r.stderr);
    assert.ok(Date.now() - t0 < 15_000, 'no hang');
    assert.match(r.stderr, /\/proc\/nope\/x: cannot open event log: .*ENOENT.* \[PAL_ERR_OUTPUT_OPEN\]/);
    noStack(r.stderr);
  });
});

describe('defect 13: replay arguments, output faults and summaries', () => {
  it('defect 13: stdin given twice is a usage error', (t) => {
    const f = capture(tempDir(t));
    const r = palisade(['replay', '-q', '-', '-'], { input: readFileSync(f) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /stdin \("-"\) can be replayed only once \[PAL_ERR_USAGE\]/);
  });

  it('defect 13: --eve naming an input file (same path, symlink, hard link, stdin alias) is refused and the capture kept', (t) => {
    const d = tempDir(t);
    const f = capture(d);
    const before = readFileSync(f);
    symlinkSync(f, join(d, 'sym.pcap'));
    linkSync(f, join(d, 'hard.pcap'));
    for (const eve of [f, join(d, 'sym.pcap'), join(d, 'hard.pcap'), join(d, '.', 'a.pcap')]) {
      const r = palisade(['replay', '-q', '--eve', eve, f]);
      assert.equal(r.code, 2, eve);
      assert.match(r.stderr, /refusing to write events over a capture \[PAL_ERR_USAGE\]/);
    }
    const stdin = palisade(['replay', '-q', '--eve', '/dev/stdin', '-'], { input: before });
    assert.equal(stdin.code, 2);
    // stdin redirected from the capture, and --eve naming that file.
    const redirected = sh(`node ${CLI} replay -q --eve ${f} - < ${f}`);
    assert.equal(redirected.code, 2, redirected.stderr);
    assert.deepEqual(readFileSync(f), before);
  });

  it('defect 13: a summary that cannot be written (--json > /dev/full) exits 5 with one line', (t) => {
    const f = capture(tempDir(t));
    for (const json of ['--json', '']) {
      const r = sh(`node ${CLI} replay -q ${json} ${f} > /dev/full`);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /^palisade: stdout: cannot write the summary: ENOSPC.* \[PAL_ERR_OUTPUT_WRITE\]\n$/);
    }
  });

  it('defect 13: a closed pipe (EPIPE) ends replay quietly with exit 5', (t) => {
    const f = capture(tempDir(t));
    for (const args of ['--json', '--eve -']) {
      const r = sh(`node ${CLI} replay -q ${args} ${f} | { exec 0<&-; sleep 1; }; echo "rc=\${PIPESTATUS[0]}" >&2`);
      assert.match(r.stderr, /^rc=5\n$/, args);
    }
  });

  it('defect 13: --eve /dev/full exits 5 with one line and no stack trace', (t) => {
    const f = capture(tempDir(t));
    const r = palisade(['replay', '-q', '--eve', '/dev/full', f]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /^palisade: \/dev\/full: cannot write event log: ENOSPC.* \[PAL_ERR_OUTPUT_WRITE\]\n$/);
    noStack(r.stderr);
  });

  it('defect 13: source warnings are printed in --json mode too, and are in files[].warnings', (t) => {
    const d = tempDir(t);
    const f = capture(d);
    const cut = join(d, 'cut.pcap');
    writeFileSync(cut, readFileSync(f).subarray(0, -10));
    const r = palisade(['replay', '-q', '--json', cut]);
    assert.equal(r.code, 0);
    const s = JSON.parse(r.stdout);
    assert.equal(s.files[0].warnings.length, 1);
    assert.match(s.files[0].warnings[0], /the last record is cut short/);
    assert.ok(r.stderr.includes(`palisade: warning: ${s.files[0].warnings[0]}\n`));
  });

  it('defect 13: when no input can be read, only the error is printed (exit 3); otherwise the summary names the failed file', (t) => {
    const d = tempDir(t);
    const missing = join(d, 'missing.pcap');
    for (const json of [[], ['--json']]) {
      const r = palisade(['replay', '-q', ...json, missing]);
      assert.equal(r.code, 3);
      assert.equal(r.stdout, '', 'no all-zero summary');
      assert.match(r.stderr, /missing\.pcap: .*\[PAL_ERR_CAPTURE_OPEN\]/);
    }
    const f = capture(d);
    const some = palisade(['replay', '-q', missing, f]);
    assert.equal(some.code, 3);
    assert.match(some.stdout, /Replayed 2 files: 50 packets/);
    assert.match(some.stdout, /\n {2}failed {10}.*missing\.pcap: .*\[PAL_ERR_CAPTURE_OPEN\]\n/);
    const json = palisade(['replay', '-q', '--json', missing, f]);
    assert.equal(JSON.parse(json.stdout).files[0].error.code, 'PAL_ERR_CAPTURE_OPEN');
  });
});

// --- honest alerts and the audit trail ---------------------------------------------------------

describe('defects 6 and 7: alerts say what was applied; ban events', () => {
  it('defect 6: alert.action is "blocked" only when the ban was applied, with palisade.enforcement', () => {
    assert.equal(alertEvent(banDecision({ status: 'applied' })).alert.action, 'blocked');
    assert.deepEqual(alertEvent(banDecision({ status: 'applied' })).palisade.enforcement, { status: 'applied' });
    for (const status of ['failed', 'quarantined', 'dry-run'] as const) {
      const e = alertEvent(banDecision({ status, error: status === 'dry-run' ? undefined : 'nft: No such file or directory' }));
      assert.equal(e.alert.action, 'allowed', status);
      assert.equal(e.palisade.enforcement!.status, status);
      assert.equal(e.palisade.decision, 'ban');
    }
    assert.equal(alertEvent(banDecision({ status: 'failed', error: 'nft failed' })).palisade.enforcement!.error, 'nft failed');
    // Replay: a ban without enforcement is "allowed", with no enforcement object; the decision stays "ban".
    const replay = alertEvent(banDecision());
    assert.equal(replay.alert.action, 'allowed');
    assert.equal(replay.palisade.decision, 'ban');
    assert.equal('enforcement' in replay.palisade, false);
    assert.equal(replay.palisade.ban!.scope, '198.18.7.7/32');
  });

  it('defect 6: the console says BANNED only when applied, BAN FAILED with the error, WOULD BAN otherwise', () => {
    const tail = 'MEDIUM  syn_scan  198.18.7.7 -> 198.18.0.2:22 TCP  PALISADE SYN scan';
    assert.equal(formatAlertLine(banDecision({ status: 'applied' })), `2025-11-24 16:00:00.000  BANNED 198.18.7.7/32 for 600s ${tail}`);
    assert.equal(formatAlertLine(banDecision({ status: 'failed', error: 'nft: not found\n' })), `2025-11-24 16:00:00.000  BAN FAILED 198.18.7.7/32 (nft: not found\\x0a) ${tail}`);
    assert.equal(formatAlertLine(banDecision({ status: 'quarantined' })), `2025-11-24 16:00:00.000  BAN FAILED 198.18.7.7/32 (quarantined) ${tail}`);
    assert.equal(formatAlertLine(banDecision({ status: 'dry-run' })), `2025-11-24 16:00:00.000  WOULD BAN 198.18.7.7/32 for 600s ${tail}`);
    assert.equal(formatAlertLine(banDecision()), `2025-11-24 16:00:00.000  WOULD BAN 198.18.7.7/32 for 600s ${tail}`);
  });

  const lifted: BanEvent = { action: 'lifted', by: 'operator', scope: '2001:db8::/64', until: null, reason: 'operator\u001b[31m', at: T0 + 1.5, origin: 'detector' };

  it('defect 7: banEvent is an EVE "ban" event with who, what, scope, until and why', () => {
    assert.deepEqual(banEvent({ action: 'banned', by: 'detector', scope: '198.18.7.0/24', until: T0 + 600, reason: 'syn_scan', at: T0, kind: 'syn_scan', offence: 2, origin: 'detector' }), {
      timestamp: '2025-11-24T16:00:00.000000+0000',
      event_type: 'ban',
      src_ip: '198.18.7.0',
      ban: { action: 'banned', by: 'detector', scope: '198.18.7.0/24', until: '2025-11-24T16:10:00.000000+0000', reason: 'syn_scan', kind: 'syn_scan', offence: 2, origin: 'detector' },
    });
    const e = banEvent({ ...lifted, error: 'x'.repeat(1000) });
    assert.equal(e.src_ip, '2001:db8::');
    assert.equal(e.ban.until, null);
    assert.equal(e.ban.error!.length, 256);
    assert.equal(formatBanLine(lifted), '2025-11-24 16:00:01.500  BAN LIFTED 2001:db8::/64 by operator  operator\\x1b[31m');
    assert.equal(
      formatBanLine({ action: 'failed', by: 'firewall', scope: '198.18.7.7/32', until: T0 + 60, reason: 'syn_scan', at: T0, error: 'value too large' }),
      '2025-11-24 16:00:00.000  BAN FAILED 198.18.7.7/32 until 2025-11-24 16:01:00.000 by firewall  syn_scan (value too large)',
    );
  });

  it('defect 7: Outputs.ban writes only to targets that want ban events', (t) => {
    const d = tempDir(t);
    const out = new Outputs();
    out.add(new FileSink(join(d, 'bans.json')), ['ban'], false);
    out.add(new FileSink(join(d, 'alerts.json')), ['alert', 'stats'], false);
    out.ban(lifted);
    out.alert(banDecision());
    out.close();
    assert.deepEqual(lines(join(d, 'bans.json')).map((l) => JSON.parse(l).event_type), ['ban']);
    assert.deepEqual(lines(join(d, 'alerts.json')).map((l) => JSON.parse(l).event_type), ['alert']);
  });

  it('defect 7: EVE times survive any number (NaN, ±Infinity, 1e308, negative)', () => {
    for (const x of [NaN, Infinity, -Infinity, 1e308, -1, -1e308, Number.MAX_VALUE, 2 ** 53 + 0.5]) {
      assert.match(eveTimestampOf(x), /^\+?\d{4,6}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$/, String(x));
      assert.doesNotThrow(() => eveTimestamp(x, x));
      assert.doesNotThrow(() => banEvent({ ...lifted, at: x, until: x }));
      assert.doesNotThrow(() => formatBanLine({ ...lifted, at: x, until: x }));
      assert.doesNotThrow(() => alertEvent({ ...banDecision(), notice: { ...notice, tsSec: x, tsNsec: x, evidence: { first_seen: x } }, ban: { ...ban, until: x } }));
    }
    assert.equal(eveTimestampOf(NaN), '1970-01-01T00:00:00.000000+0000');
  });
});

