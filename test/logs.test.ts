// The log view of brute force: syslog prefixes (RFC 3339 and the yearless RFC 3164, its year from
// a reference time), sshd's login messages (an address read from the end, so a username cannot
// frame somebody else), and `palisade replay --log`: a verdict on the lines' own times, through the
// same policy, deterministic; a user who mistypes twice and logs in never flagged; a 100 kB line
// skipped and counted; a missing file a clear error. One attacker seen in packets and in the log is
// one ban.

import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readFileSync, renameSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { IpAddr } from '../src/core/addr.js';
import { OUTCOME } from '../src/core/log-event.js';
import { LogFollower, type LogPosition } from '../src/logs/follow.js';
import { parseSshd } from '../src/logs/sshd.js';
import { parseSyslog } from '../src/logs/syslog.js';
import { F, eth, ipv4, tcp } from '../tools/craft.js';
import { palisade, tempDir } from './helpers/cli.js';
import { harness } from './helpers/engine.js';

describe('syslog prefixes', () => {
  it('RFC 3339 with a fraction and an offset, and RFC 3164 with its year from the reference', () => {
    const a = parseSyslog('2026-12-03T12:00:00.123456+01:00 web1 sshd[4242]: Accepted publickey for deploy from 198.18.1.1 port 5000 ssh2', 2026, 11)!;
    assert.equal(a.sec, Date.UTC(2026, 11, 3, 11, 0, 0) / 1000);
    assert.equal(a.nsec, 123456000);
    assert.deepEqual([a.host, a.program, a.pid], ['web1', 'sshd', 4242]);
    assert.ok(a.message.startsWith('Accepted publickey'));
    const b = parseSyslog('Dec  3 12:00:01 web1 sshd[7]: x', 2026, 11)!;
    assert.equal(b.sec, Date.UTC(2026, 11, 3, 12, 0, 1) / 1000);
    // A log read in January: its December lines are last year's.
    assert.equal(parseSyslog('Dec 31 23:59:59 h sshd: x', 2027, 0)!.sec, Date.UTC(2026, 11, 31, 23, 59, 59) / 1000);
    assert.equal(parseSyslog('Jan 10 00:00:00 h sshd: x', 2027, 0)!.sec, Date.UTC(2027, 0, 10) / 1000);
    assert.equal(parseSyslog('Dec 13 01:02:03 h sshd: x', 2026, 11)!.sec, Date.UTC(2026, 11, 13, 1, 2, 3) / 1000);
  });

  it('lines without a prefix are null, whatever they hold', () => {
    for (const l of ['', 'garbage', 'Dex  3 12:00:01 h sshd: x', 'Dec 32 12:00:01 h sshd: x', 'Dec  3 25:00:01 h sshd: x', '2026-13-03T12:00:00Z h sshd: x', '2026-12-03T12:00:00Z h', '2026-12-03T12:00:00Z h no colon', 'Dec  3 12:00:01 h: x', '\u0000'.repeat(100)]) {
      assert.equal(parseSyslog(l, 2026, 11), null, JSON.stringify(l));
    }
  });
});

describe('sshd messages', () => {
  const v = (m: string) => {
    const r = parseSshd(m);
    return r && { outcome: r.outcome, addr: r.addr.toString(), user: r.user };
  };
  const FAIL = OUTCOME.FAIL;

  it('failures, successes and what is neither', () => {
    assert.deepEqual(v('Failed password for root from 198.18.5.5 port 40000 ssh2'), { outcome: FAIL, addr: '198.18.5.5', user: 'root' });
    assert.deepEqual(v('Failed password for invalid user admin from 2001:db8::5 port 40000 ssh2'), { outcome: FAIL, addr: '2001:db8::5', user: 'admin' });
    assert.deepEqual(v('Failed keyboard-interactive/pam for bob from 198.18.5.5 port 1 ssh2'), { outcome: FAIL, addr: '198.18.5.5', user: 'bob' });
    assert.deepEqual(v('Invalid user oracle from 198.18.5.5 port 40000'), { outcome: FAIL, addr: '198.18.5.5', user: 'oracle' });
    assert.deepEqual(v('error: maximum authentication attempts exceeded for root from 198.18.5.5 port 40002 ssh2 [preauth]'), { outcome: FAIL, addr: '198.18.5.5', user: 'root' });
    assert.deepEqual(v('Disconnecting authenticating user root 198.18.5.5 port 40003: Too many authentication failures [preauth]'), { outcome: FAIL, addr: '198.18.5.5', user: 'root' });
    assert.deepEqual(v('User eve from 198.18.5.5 not allowed because not listed in AllowUsers'), { outcome: FAIL, addr: '198.18.5.5', user: 'eve' });
    assert.deepEqual(v('Accepted publickey for deploy from 198.18.1.1 port 5000 ssh2: ED25519 SHA256:abc'), { outcome: OUTCOME.SUCCESS, addr: '198.18.1.1', user: 'deploy' });
    for (const m of ['Failed publickey for root from 198.18.5.5 port 1 ssh2', 'Connection closed by authenticating user root 198.18.5.5 port 1 [preauth]', 'Server listening on 0.0.0.0 port 22.', 'Failed password for root from nowhere port 1 ssh2', 'Failed password for root from 198.18.5.5 port x ssh2']) {
      assert.equal(parseSshd(m), null, m);
    }
  });

  it('a username holding " from ADDR port N" frames nobody: the address is the last one sshd wrote', () => {
    const m = 'Failed password for invalid user x from 203.0.113.9 port 22 ssh2 from 198.18.5.5 port 40000 ssh2';
    assert.deepEqual(v(m), { outcome: FAIL, addr: '198.18.5.5', user: 'x from 203.0.113.9 port 22 ssh2' });
    assert.equal(v('Invalid user a from 203.0.113.9 port 22 from 198.18.5.5 port 1')!.addr, '198.18.5.5');
  });
});

/** sshd lines: `n` failures from `attacker` a second apart from 12:00:00, in RFC 3164 form. */
function authLog(n: number, attacker = '198.18.5.5', extra: string[] = []): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`Dec  3 12:00:${String(i).padStart(2, '0')} host sshd[${100 + i}]: Failed password for root from ${attacker} port ${40000 + i} ssh2`);
  return [...lines, ...extra].join('\n') + '\n';
}

describe('palisade replay --log', () => {
  const d = tempDir({ after });
  const write = (name: string, text: string): string => {
    const f = join(d, name);
    writeFileSync(f, text);
    utimesSync(f, new Date('2026-12-04T00:00:00Z'), new Date('2026-12-04T00:00:00Z'));
    return f;
  };
  const eveOf = (args: string[]) => {
    const out = join(d, `eve-${Math.random().toString(36).slice(2)}.json`);
    const r = palisade(['replay', '-q', '--eve', out, ...args]);
    return { r, alerts: readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event_type === 'alert') };
  };

  it('five failures are a brute-force alert on the fifth line\'s time, from the log view, the same every run', () => {
    const f = write('auth.log', authLog(6, '198.18.5.5', ['Dec  3 12:01:00 host sshd[9]: Failed password for alice from 198.18.7.8 port 1 ssh2', 'Dec  3 12:01:05 host sshd[9]: Failed password for alice from 198.18.7.8 port 1 ssh2', 'Dec  3 12:01:09 host sshd[9]: Accepted password for alice from 198.18.7.8 port 1 ssh2']));
    const a = eveOf(['--log', f]);
    assert.equal(a.r.code, 0, a.r.stderr);
    assert.equal(a.alerts.length, 1);
    const e = a.alerts[0];
    assert.equal(e.src_ip, '198.18.5.5');
    assert.equal(e.timestamp, '2026-12-03T12:00:04.000000+0000');
    assert.equal(e.palisade.kind, 'bruteforce');
    assert.equal(e.palisade.decision, 'ban');
    assert.equal(e.palisade.evidence.view, 'log:sshd');
    assert.equal(e.palisade.evidence.service, 'ssh');
    assert.deepEqual(e.palisade.evidence.usernames, ['root']);
    assert.deepEqual(e.palisade.evidence.log, { file: f, first_line: 1, last_line: 5 });
    const again = eveOf(['--log', f]);
    assert.deepEqual(again.alerts, a.alerts);
  });

  it('the summary counts lines, sshd lines, failures and successes; a 100 kB line is skipped and counted; a missing file is PAL_ERR_LOG_OPEN', () => {
    const f = write('noisy.log', authLog(2) + 'x'.repeat(100 * 1024) + '\nnot syslog\n' + authLog(1, '198.18.9.9'));
    const r = palisade(['replay', '-q', '--json', '--log', f]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.logs, [{ name: f, filter: 'sshd', lines: 5, unparsed: 1, matched: 3, failures: 3, successes: 0, too_long: 1 }]);
    assert.equal(s.detections.alerts, 0);
    const missing = palisade(['replay', '-q', '--log', join(d, 'nope.log')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope\.log: cannot read log file.*PAL_ERR_LOG_OPEN/);
    const none = palisade(['replay', '-q']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /PAL_ERR_USAGE/);
  });
});

describe('one decision per attacker', () => {
  it('an attacker seen by the packets and then in the log is banned once', () => {
    const h = harness();
    const A = '198.18.5.5';
    const S = '198.18.4.4';
    let t = 1796299200;
    for (let i = 0; i < 5; i++) {
      const sp = 40000 + i;
      const f = (src: string, dst: string, a: number, b: number, flags: number, data = '') => h.send((t += 0.01), eth(0x0800, ipv4({ src, dst, proto: 6 }, tcp({ sport: a, dport: b, flags }, Buffer.from(data)))));
      f(A, S, sp, 21, F.SYN);
      f(S, A, 21, sp, F.SYN | F.ACK);
      f(A, S, sp, 21, F.ACK);
      f(S, A, 21, sp, F.PSH | F.ACK, '220 ready\r\n');
      f(A, S, sp, 21, F.PSH | F.ACK, 'USER root\r\n');
      f(A, S, sp, 21, F.PSH | F.ACK, 'PASS x\r\n');
      f(S, A, 21, sp, F.PSH | F.ACK, '530 Login incorrect.\r\n');
    }
    for (let i = 0; i < 6; i++) {
      h.engine.logEvent({ sec: Math.floor((t += 1)), nsec: 0, filter: 'sshd', service: 'ssh', outcome: OUTCOME.FAIL, addr: IpAddr.parse(A)!, user: 'root', file: 'auth.log', line: i + 1 });
    }
    const bans = h.decisions.filter((d) => d.ban !== null);
    assert.equal(bans.length, 1, h.decisions.map((d) => `${d.notice.evidence.view} ${d.action} ${d.reason}`).join('; '));
    assert.equal(bans[0]!.notice.evidence.view, 'packets');
    const views = h.decisions.filter((d) => d.notice.kind === 'bruteforce').map((d) => d.notice.evidence.view);
    assert.deepEqual(views, ['packets', 'log:sshd']);
  });
});

describe('following a live log (tail -F)', () => {
  const d = tempDir({ after });
  const L = (i: number) => `Dec  3 12:00:00 host sshd[1]: Failed password for root from 198.18.5.5 port ${40000 + i} ssh2 (line ${i})`;
  const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => L(from + k) + '\n').join('');
  const follower = (path: string, resume: LogPosition | null = null, fromStart = false) => {
    const got: string[] = [];
    const f = new LogFollower(path, (l) => got.push(l), resume, fromStart);
    return { f, got };
  };
  const expect = (got: string[], from: number, to: number) => assert.deepEqual(got, Array.from({ length: to - from }, (_, k) => L(from + k)));

  it('starts at the end, then reads each appended line once; a partial line waits for its newline', () => {
    const p = join(d, 'a.log');
    writeFileSync(p, lines(0, 5));
    const { f, got } = follower(p);
    f.poll();
    assert.deepEqual(got, []);
    appendFileSync(p, lines(5, 8) + L(8).slice(0, 20));
    f.poll();
    expect(got, 5, 8);
    appendFileSync(p, L(8).slice(20) + '\n');
    f.poll();
    expect(got, 5, 9);
    f.close();
  });

  it('rotation by rename: the old file is read to its end (late writes included), then the new one from its start', () => {
    const p = join(d, 'b.log');
    writeFileSync(p, lines(0, 10));
    const { f, got } = follower(p, null, true);
    f.poll();
    appendFileSync(p, lines(10, 12));
    renameSync(p, `${p}.1`);
    appendFileSync(`${p}.1`, lines(12, 14)); // the logger writes on until it reopens
    writeFileSync(p, lines(14, 16));
    f.poll();
    appendFileSync(p, lines(16, 17));
    f.poll();
    expect(got, 0, 17);
    assert.equal(f.stats.rotations, 1);
    f.close();
  });

  it('copytruncate: the lines written between the last read and the copy are read from the copy, once', () => {
    const p = join(d, 'c.log');
    writeFileSync(p, lines(0, 10));
    const { f, got } = follower(p, null, true);
    f.poll();
    appendFileSync(p, lines(10, 13));
    copyFileSync(p, `${p}.1`);
    truncateSync(p, 0);
    appendFileSync(p, lines(13, 15));
    f.poll();
    expect(got, 0, 15);
    assert.equal(f.stats.truncations, 1);
    assert.equal(f.stats.recovered, 3);
    f.close();
  });

  it('a restart resumes at the kept position: lines appended meanwhile, or a rotation meanwhile, are each read once', () => {
    const p = join(d, 'e.log');
    writeFileSync(p, lines(0, 10));
    const first = follower(p, null, true);
    first.f.poll();
    const kept = first.f.position()!;
    first.f.close();
    appendFileSync(p, lines(10, 12));
    const second = follower(p, kept);
    second.f.poll();
    expect(second.got, 10, 12);
    const kept2 = second.f.position()!;
    second.f.close();
    // Down during a rotation by rename, with lines written before it.
    appendFileSync(p, lines(12, 14));
    renameSync(p, `${p}.1`);
    writeFileSync(p, lines(14, 16));
    const third = follower(p, kept2);
    third.f.poll();
    expect(third.got, 12, 16);
    assert.equal(third.f.stats.recovered, 2);
    third.f.close();
  });

  it('a 100 kB line is skipped whole and counted; the next line is read', () => {
    const p = join(d, 'f.log');
    writeFileSync(p, lines(0, 3));
    const { f, got } = follower(p, null, true);
    appendFileSync(p, 'x'.repeat(100 * 1024) + '\n' + lines(3, 4));
    f.poll();
    expect(got.filter((l) => !l.startsWith('x')), 0, 4);
    assert.equal(f.stats.too_long, 1);
    f.close();
  });
});
