// The decide stage and its state, without a kernel: ban decisions with their scope, the
// escalation ladder and its memory, caps, anti-lockout (trusted, own addresses, gateways, SSH
// client and session peers, non-unicast), scopes narrowed around protected addresses,
// overlapping bans of mixed prefix lengths, expiry, durations and times beyond range; the
// SQLite store (restart restore, one ban in force per scope, retention, history); host facts
// parsing (and sshd's sessions, live in namespaces); the control socket's contract; honeypot
// replies (valid SYN-ACKs, allow-list, listeners, rate, protected sources).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, parseConfig } from '../src/config/load.js';
import { Cidr, IpAddr } from '../src/core/addr.js';
import type { Ban, Decision, Notice } from '../src/core/notice.js';
import { Honeypot, listeningPorts } from '../src/enforce/honeypot.js';
import { F, MAC_A, checksum, eth, ipv4, ipv6, tcp } from '../tools/craft.js';
import { decodeOne } from './helpers/decode.js';
import { request } from '../src/control/client.js';
import { ControlServer } from '../src/control/server.js';
import { formatTime, MAX_BAN_SECONDS, Policy, policyConfig, type PolicyDecision } from '../src/decide/policy.js';
import { localV4, localV6, parseProcNetTcp, sessionInodes, sshClient, sshdConfigPorts, sshdInodes, sshdListeners, sshPeersOf } from '../src/pipeline/host.js';
import { Operator } from '../src/pipeline/operator.js';
import { StateStore } from '../src/state/store.js';
import { sh, tempDir } from './helpers/cli.js';
import { isRoot, must, waitFor, withNamespaces } from './helpers/netns.js';

const T0 = 1_800_000_000;
let seq = 0;

function notice(src: string, kind = 'syn_scan', severity: 1 | 2 | 3 = 2, t = T0): Notice {
  return {
    id: ++seq,
    kind,
    detector: 'port_scan',
    tsSec: t,
    tsNsec: 0,
    src: IpAddr.parse(src)!,
    dst: IpAddr.parse('198.18.0.2'),
    srcPort: 40000,
    dstPort: 22,
    proto: 6,
    severity,
    signatureId: 1,
    signature: 'PALISADE test scan',
    category: 'test',
    evidence: { ports: 20 },
  };
}

function policy(yaml = '', host = { addresses: ['198.18.0.2', '2001:db8:1::2'], gateways: ['198.18.0.1'], ssh: '198.18.7.7' as string | null }): Policy {
  const p = new Policy(policyConfig(yaml ? parseConfig(yaml, 'test.yaml') : defaultConfig()));
  p.setHost({
    addresses: host.addresses.map((a) => IpAddr.parse(a)!),
    gateways: host.gateways.map((a) => IpAddr.parse(a)!),
    sshClient: host.ssh ? IpAddr.parse(host.ssh) : null,
    sshPeers: [],
  });
  return p;
}

describe('decide: bans', () => {
  it('bans a scanner for the default 10 minutes, once, and alerts on other kinds while it stands', () => {
    const p = policy();
    const d = p.decide(notice('198.18.5.5'), T0);
    assert.equal(d.action, 'ban');
    assert.equal(d.ban!.key, '198.18.5.5/32');
    assert.equal(d.ban!.until - d.ban!.since, 600);
    assert.deepEqual(d.ban!.noticeIds, [d.notice.id]);
    assert.equal(d.ban!.offence, 1);
    assert.equal(p.decide(notice('198.18.5.5'), T0 + 1).action, 'ignore', 'a repeat is suppressed');
    const other = p.decide(notice('198.18.5.5', 'sweep'), T0 + 2);
    assert.equal(other.action, 'alert');
    assert.match(other.reason, /already banned: 198\.18\.5\.5\/32 until/);
    assert.equal(p.activeCount, 1);
  });

  it('takes the action per kind and severity from config; profiles set the severity', () => {
    let p = policy();
    assert.equal(p.decide(notice('198.18.5.6', 'slow_scan', 3), T0).action, 'alert', 'normal: severity 3 alerts');
    p = policy('profile: paranoid\n');
    assert.equal(p.decide(notice('198.18.5.6', 'slow_scan', 3), T0).action, 'ban', 'paranoid: severity 3 bans');
    p = policy('decide:\n  kinds:\n    syn_scan: { action: alert }\n    sweep: { duration: 1h }\n    ack_scan: { action: ignore }\n');
    assert.equal(p.decide(notice('198.18.5.7'), T0).action, 'alert');
    const sweep = p.decide(notice('198.18.5.8', 'sweep'), T0);
    assert.equal(sweep.ban!.until - T0, 3600);
    assert.equal(p.decide(notice('198.18.5.9', 'ack_scan'), T0).action, 'ignore');
    p = policy('decide:\n  ban_severity: 0\n');
    assert.equal(p.decide(notice('198.18.5.7', 'syn_scan', 1), T0).action, 'alert', 'ban_severity 0 never bans');
  });

  it('escalates repeat offenders 10m, 1h, 24h, 7d, 7d, and forgets them after forget_after', () => {
    const p = policy('block:\n  forget_after: 30d\n');
    let t = T0;
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = p.decide(notice('198.18.6.6', 'syn_scan', 2, t), t);
      got.push(d.ban!.until - t);
      t = d.ban!.until + 1;
      p.expire(t);
      assert.equal(p.takeLifts()[0]?.reason, 'expired');
    }
    assert.deepEqual(got, [600, 3600, 86400, 604800, 604800]);
    t += 31 * 86400;
    p.expire(t);
    assert.equal(p.decide(notice('198.18.6.6', 'syn_scan', 2, t), t).ban!.offence, 1, 'forgotten after 30 days');
  });

  it('bans IPv6 sources by their /64 (configurable), IPv4 by the configured prefix', () => {
    let p = policy();
    assert.equal(p.decide(notice('2001:db8:5:6:a:b:c:d'), T0).ban!.key, '2001:db8:5:6::/64');
    p = policy('block:\n  ipv6_prefix: 128\n  ipv4_prefix: 24\n');
    assert.equal(p.decide(notice('2001:db8:5:6:a:b:c:d'), T0).ban!.key, '2001:db8:5:6:a:b:c:d/128');
    assert.equal(p.decide(notice('198.18.9.77'), T0).ban!.key, '198.18.9.0/24');
  });

  it('never bans trusted, own, gateway, SSH-client, loopback or non-unicast sources, and says why', () => {
    const p = policy('trusted: [198.18.100.0/24, "2001:db8:99::/48"]\n');
    const trusted = p.decide(notice('198.18.100.9'), T0);
    assert.equal(trusted.action, 'ignore');
    assert.equal(trusted.protectedBy, 'trusted 198.18.100.0/24');
    assert.equal(p.decide(notice('2001:db8:99::5'), T0).action, 'ignore');
    assert.equal(p.decide(notice('127.0.0.5'), T0).protectedBy, 'loopback 127.0.0.0/8', 'loopback is always trusted');
    const cases: [string, RegExp][] = [
      ['198.18.0.2', /own address 198\.18\.0\.2/],
      ['198.18.0.1', /default gateway 198\.18\.0\.1/],
      ['198.18.7.7', /SSH client 198\.18\.7\.7/],
      ['0.0.0.0', /unspecified/],
      ['224.0.0.251', /multicast/],
    ];
    for (const [src, why] of cases) {
      const d = p.decide(notice(src), T0);
      assert.equal(d.action, 'alert', src);
      assert.match(d.reason, why, src);
      assert.match(d.reason, /^not banned: /);
    }
    assert.equal(p.activeCount, 0);
    assert.equal(p.stats().refused, 5);
    // The /64 of a host address is narrowed to leave the host out (defect 16), not refused.
    assert.equal(p.decide(notice('2001:db8:1::99'), T0).ban!.key, '2001:db8:1::80/121');
    // The operator is refused the same way, for addresses and prefixes.
    for (const target of ['198.18.0.1', '198.18.0.0/16', '::/0', '127.0.0.1']) {
      assert.match(p.ban(Cidr.parse(target)!, { duration: 60, reason: 'x', kind: 'operator', noticeIds: [], origin: 'operator' }, T0).refused!, /not banned/, target);
    }
  });

  it('caps bans per minute and in total; the excess only alerts', () => {
    const p = policy('block:\n  max_per_minute: 5\n  max_active: 8\n');
    const actions = [];
    for (let i = 0; i < 7; i++) actions.push(p.decide(notice(`198.18.20.${i + 10}`), T0).action);
    assert.deepEqual(actions, ['ban', 'ban', 'ban', 'ban', 'ban', 'alert', 'alert']);
    assert.match(p.decide(notice('198.18.20.50'), T0).reason, /over 5 bans a minute/);
    // A minute later the bucket is full again, up to the total cap.
    for (let i = 0; i < 5; i++) p.decide(notice(`198.18.21.${i + 10}`), T0 + 60);
    assert.equal(p.activeCount, 8);
    assert.match(p.decide(notice('198.18.22.1'), T0 + 200).reason, /8 bans in force \(block\.max_active\)/);
    assert.equal(p.stats().capped, 6);
  });

  it('an operator CIDR ban supersedes the narrower bans inside it; unban lifts by overlap', () => {
    const p = policy();
    p.decide(notice('198.18.30.5'), T0);
    p.decide(notice('198.18.30.6'), T0);
    const r = p.ban(Cidr.parse('198.18.30.0/24')!, { duration: 3600, reason: 'op', kind: 'operator', noticeIds: [], origin: 'operator' }, T0 + 1);
    assert.equal(r.ban!.key, '198.18.30.0/24');
    assert.deepEqual(r.lifted.map((l) => [l.ban.key, l.reason]).sort(), [
      ['198.18.30.5/32', 'superseded'],
      ['198.18.30.6/32', 'superseded'],
    ]);
    const inside = p.decide(notice('198.18.30.7'), T0 + 2);
    assert.equal(inside.action, 'alert');
    assert.match(inside.reason, /already banned: 198\.18\.30\.0\/24/);
    assert.deepEqual(p.unban(Cidr.parse('198.18.30.9')!, T0 + 3).map((l) => l.ban.key), ['198.18.30.0/24']);
    assert.equal(p.activeCount, 0);
  });
});

describe('state: SQLite', () => {
  it('restores bans in force with their end and offence counts; closes expired ones; one ban per scope', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'sub', 'palisade.db');
    let store = new StateStore(path);
    let p = policy();
    const d1 = p.decide(notice('198.18.40.1'), T0);
    store.recordDecision(d1);
    const d2 = p.decide(notice('198.18.40.2', 'syn_scan', 2, T0), T0);
    store.recordDecision(d2);
    // The operator re-bans the first: one row in force.
    const again = p.ban(d1.ban!.scope, { duration: 7200, reason: 'longer', kind: 'operator', noticeIds: [], origin: 'operator' }, T0 + 5);
    store.recordBan(again.ban!);
    store.close();
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);

    store = new StateStore(path); // a restart
    const bans = store.bansInForce(T0 + 700); // the 10-minute ban of .2 has ended
    assert.deepEqual(bans.map((b) => [b.key, b.until]), [['198.18.40.1/32', T0 + 5 + 7200]]);
    p = policy();
    p.restore(bans, store.offences(T0 - 86400), T0 + 700);
    assert.equal(p.activeCount, 1);
    assert.equal(p.nextOffence('198.18.40.2/32', T0 + 700), 2, 'the offence count survived the restart');
    const rows = store.db.prepare('SELECT scope, lift_reason FROM bans ORDER BY id').all();
    assert.deepEqual(rows, [
      { scope: '198.18.40.1/32', lift_reason: 'superseded' },
      { scope: '198.18.40.2/32', lift_reason: 'expired' },
      { scope: '198.18.40.1/32', lift_reason: null },
    ]);
    assert.throws(() => store.db.prepare("INSERT INTO bans (scope, since, until, reason, kind, offence, origin, notices) VALUES ('198.18.40.1/32', 0, 1, '', '', 1, 'x', '[]')").run(), /UNIQUE/);
    const h = store.history(Cidr.parse('198.18.40.1')!);
    assert.equal(h.bans.length, 2);
    assert.equal(h.notices.length, 1);
    assert.equal(h.notices[0]!.kind, 'syn_scan');
    assert.equal(store.prune(T0 + 1), 3, 'notices, lifted bans and offences before the cut');
    store.close();
  });

  it('refuses a database from a newer schema with a located error', (t) => {
    const path = join(tempDir(t), 'x.db');
    const s = new StateStore(path);
    s.db.pragma('user_version = 9');
    s.close();
    assert.throws(() => new StateStore(path), (e: Error & { code?: string }) => e.code === 'PAL_ERR_STATE' && /newer Palisade/.test(e.message));
  });
});

describe('host facts', () => {
  it('reads local IPv4 addresses from fib_trie, IPv6 from if_inet6, the SSH client from SSH_CONNECTION', () => {
    const trie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 198.18.40.0/24 2 0 2
        |-- 198.18.40.0
           /24 link UNICAST
        |-- 198.18.40.2
           /32 host LOCAL
        |-- 198.18.40.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 198.18.40.2
           /32 host LOCAL
`;
    assert.deepEqual(localV4(trie).map(String), ['198.18.40.2']);
    assert.deepEqual(localV6('20010db8000000000000000000000002 02 40 00 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\n').map(String), ['2001:db8::2', '::1']);
    assert.equal(sshClient({ SSH_CONNECTION: '198.18.7.7 52311 198.18.0.2 22' })?.toString(), '198.18.7.7');
    assert.equal(sshClient({ SSH_CONNECTION: 'fe80::1%eth0 52311 fe80::2 22' })?.toString(), 'fe80::1');
    assert.equal(sshClient({}), null);
  });
});

describe('control socket', () => {
  it('is mode 0600, answers requests, and reports errors with their codes', async (t) => {
    const path = join(tempDir(t), 'run', 'palisade.sock');
    const p = policy();
    const op = new Operator(p, null, null, () => T0);
    const server = new ControlServer(path, async (r) => (r.cmd === 'list' ? op.list() : r.cmd === 'ban' ? op.ban(r.target, r.seconds, r.reason) : null));
    await server.listen();
    t.after(() => server.close());
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const ban = (await request(path, { cmd: 'ban', target: '198.18.50.5', seconds: 3600, reason: 'test' })) as { scope: string; remaining: number };
    assert.equal(ban.scope, '198.18.50.5');
    assert.equal(ban.remaining, 3600);
    assert.deepEqual(((await request(path, { cmd: 'list' })) as { scope: string }[]).map((b) => b.scope), ['198.18.50.5']);
    await assert.rejects(request(path, { cmd: 'ban', target: '198.18.0.1', seconds: null, reason: null }), (e: Error & { code?: string }) => e.code === 'PAL_ERR_PROTECTED' && /default gateway/.test(e.message));
    await assert.rejects(request(path, { cmd: 'ban', target: 'not-an-ip', seconds: null, reason: null }), (e: Error & { code?: string }) => e.code === 'PAL_ERR_USAGE');
    assert.equal(await request(join(tempDir(t), 'none.sock'), { cmd: 'list' }), null, 'no daemon: null, for the offline path');
  });
});

describe('honeypot replies', () => {
  const syn = (src: string, dport: number, v6 = false) =>
    v6
      ? eth(0x86dd, ipv6({ src, dst: '2001:db8::2', nh: 6 }, tcp({ sport: 40000, dport, seq: 0x11223344, flags: F.SYN })))
      : eth(0x0800, ipv4({ src, dst: '198.18.0.2', proto: 6, id: 7 }, tcp({ sport: 40000, dport, seq: 0x11223344, flags: F.SYN })));

  function scannerDecision(src: string, protectedBy: string | null = null): Decision {
    const n = notice(src);
    return { action: protectedBy ? 'alert' : 'ban', notice: n, reason: 'policy', duration: 600, ban: null, protectedBy };
  }

  it('answers a scanner SYN to a closed, allowed port with a valid SYN-ACK (IPv4 and IPv6)', () => {
    const hp = new Honeypot({ ports: [], rate: 100, memory: 600 });
    const sent: Buffer[] = [];
    hp.inject = (f) => {
      sent.push(f);
    };
    hp.onDecision(scannerDecision('198.18.9.9'), T0);
    hp.onDecision(scannerDecision('2001:db8::9'), T0);
    const clock = { now: T0 + 1 };
    for (const [src, v6] of [
      ['198.18.9.9', false],
      ['2001:db8::9', true],
      ['198.18.9.10', false], // not a scanner
    ] as const) {
      const { p } = decodeOne(1, syn(src, 3306, v6));
      hp.onPacket(p, clock);
    }
    assert.equal(sent.length, 2);
    for (const [i, frame] of sent.entries()) {
      const { p, events } = decodeOne(1, frame);
      assert.deepEqual(events, []);
      assert.equal(p.tcpFlags, F.SYN | F.ACK);
      assert.equal(p.sport, 3306);
      assert.equal(p.dport, 40000);
      assert.equal(p.tcpAck >>> 0, 0x11223345);
      assert.deepEqual([...frame.subarray(0, 6)], [...MAC_A], 'back to the sender');
      // The TCP checksum verifies over the pseudo-header.
      const l4 = p.l4Off - p.off;
      const seg = frame.subarray(l4);
      const pseudo = i === 0 ? Buffer.concat([frame.subarray(26, 34), Buffer.from([0, 6, 0, seg.length])]) : Buffer.concat([frame.subarray(22, 54), Buffer.from([0, 0, 0, seg.length, 0, 0, 0, 6])]);
      assert.equal(checksum(Buffer.concat([pseudo, seg])), 0, `checksum ${i}`);
      if (i === 0) assert.equal(checksum(frame.subarray(14, 34)), 0, 'IPv4 header checksum');
    }
  });

  it('respects the allow-list, listening ports, the rate, protected sources and lifted bans', () => {
    const hp = new Honeypot({ ports: [3306, 5432, 8080], rate: 3, memory: 600 });
    let sent = 0;
    hp.inject = () => {
      sent++;
    };
    hp.onDecision(scannerDecision('198.18.9.9'), T0);
    hp.onDecision(scannerDecision('198.18.0.1', 'default gateway 198.18.0.1'), T0);
    hp.listening[8080] = 1;
    const clock = { now: T0 + 1 };
    const send = (src: string, port: number): void => hp.onPacket(decodeOne(1, syn(src, port)).p, clock);
    send('198.18.9.9', 22); // not allowed
    send('198.18.9.9', 8080); // something listens
    send('198.18.0.1', 3306); // protected: never a scanner
    assert.equal(sent, 0);
    for (let i = 0; i < 10; i++) send('198.18.9.9', 3306);
    assert.equal(sent, 3, 'rate: 3 a second');
    clock.now += 1;
    send('198.18.9.9', 5432);
    assert.equal(sent, 4, 'the bucket refills');
    assert.deepEqual(
      { ...hp.stats, scanners: 0 },
      { replies: 4, rate_limited: 7, not_allowed: 1, listening: 1, not_injectable: 0, inject_failed: 0, scanners: 0, followup_rst: 0, followup_ack: 0, followup_data: 0, followup_bytes: 0 },
    );
    // A frame the interface refuses (ENOBUFS, link down) is counted, not a reply, and never throws.
    const inject = hp.inject;
    hp.inject = () => false;
    clock.now += 1;
    send('198.18.9.9', 3306);
    assert.equal(hp.stats.inject_failed, 1);
    assert.equal(hp.stats.replies, 4);
    hp.inject = inject;
    // What the scanner does next on an answered port is recorded; on other ports it is not.
    const next = (port: number, flags: number, payload = Buffer.alloc(0)): void =>
      hp.onPacket(decodeOne(1, eth(0x0800, ipv4({ src: '198.18.9.9', dst: '198.18.0.2', proto: 6 }, tcp({ sport: 40000, dport: port, flags }, payload)))).p, clock);
    next(3306, F.RST);
    next(5432, F.ACK);
    next(5432, F.ACK | F.PSH, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    next(22, F.RST);
    assert.deepEqual([hp.stats.followup_rst, hp.stats.followup_ack, hp.stats.followup_data, hp.stats.followup_bytes], [1, 1, 1, 18]);
    hp.onLift({ ban: { scope: Cidr.parse('198.18.9.0/24')! } as Ban, reason: 'operator', at: T0 + 2 });
    clock.now += 1;
    send('198.18.9.9', 5432);
    assert.equal(sent, 4, 'lifted: no longer answered');
  });

  it('reads listening ports from /proc/net/tcp text', () => {
    const ports = new Uint8Array(65536);
    listeningPorts(
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
        '   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n' +
        '   1: 020012C6:0016 010012C6:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n',
      ports,
    );
    assert.equal(ports[0x0cea], 1);
    assert.equal(ports[22], 0, 'an established connection is not a listener');
  });
});

const op = (duration: number | null = 3600) => ({ duration, reason: 'op', kind: 'operator', noticeIds: [], origin: 'operator' as const });

describe('decide: ban scopes narrowed around protected addresses', () => {
  const lan = () => policy('', { addresses: ['2001:db8:8::10', '198.18.0.2'], gateways: ['198.18.0.1'], ssh: null });

  it('defect 16: an IPv6 /64 holding the host\'s own address is narrowed to the widest prefix that leaves it out', () => {
    const p = lan();
    const d = p.decide(notice('2001:db8:8::66'), T0) as PolicyDecision;
    assert.equal(d.action, 'ban');
    // ::66 and ::10 share 121 bits, so /122 is the widest prefix around ::66 without ::10.
    assert.equal(d.ban!.key, '2001:db8:8::40/122');
    assert.equal(d.reason, 'policy (scope narrowed from 2001:db8:8::/64 to 2001:db8:8::40/122: own address 2001:db8:8::10)');
    assert.equal(d.narrowedFrom!.toString(), '2001:db8:8::/64');
    assert.equal(d.narrowedBecause, 'own address 2001:db8:8::10');
    assert.equal(d.protectedBy, null);
    assert.equal(p.protect.why(d.ban!.scope), null, 'the narrowed scope holds no protected address');
    // A source far from the host in the same /64 keeps almost all of it.
    assert.equal(p.decide(notice('2001:db8:8:0:8000::5'), T0).ban!.key, '2001:db8:8:0:8000::/65');
    // Not narrowed: another /64 is banned whole, with the plain reason.
    const other = p.decide(notice('2001:db8:9::66'), T0) as PolicyDecision;
    assert.equal(other.ban!.key, '2001:db8:9::/64');
    assert.equal(other.reason, 'policy');
    assert.equal(other.narrowedFrom, null);
    assert.equal(p.stats().refused, 0);
  });

  it('defect 16: an IPv4 /24 holding the gateway is narrowed; the address itself protected is refused', () => {
    const p = policy('block:\n  ipv4_prefix: 24\n', { addresses: ['198.18.0.2'], gateways: ['198.18.0.1'], ssh: null });
    const d = p.decide(notice('198.18.0.200'), T0) as PolicyDecision;
    assert.equal(d.ban!.key, '198.18.0.128/25');
    assert.match(d.reason, /^policy \(scope narrowed from 198\.18\.0\.0\/24 to 198\.18\.0\.128\/25: own address 198\.18\.0\.2, default gateway 198\.18\.0\.1\)$/);
    const near = p.decide(notice('198.18.0.3'), T0);
    assert.equal(near.ban!.key, '198.18.0.3/32', 'down to the host prefix');
    for (const [src, why] of [
      ['198.18.0.1', 'default gateway 198.18.0.1'],
      ['198.18.0.2', 'own address 198.18.0.2'],
    ]) {
      const r = p.decide(notice(src!), T0) as PolicyDecision;
      assert.equal(r.action, 'alert');
      assert.equal(r.reason, `not banned: ${why}`);
      assert.equal(r.protectedBy, why);
      assert.equal(r.narrowedFrom, null);
    }
    assert.equal(p.stats().refused, 2);
    const v6 = lan().decide(notice('2001:db8:8::10'), T0);
    assert.equal(v6.reason, 'not banned: own address 2001:db8:8::10');
  });

  it('defect 16: a trusted network and several protected addresses inside the /64 narrow it to leave all out', () => {
    const p = policy('trusted: ["2001:db8:8:0:8000::/65"]\n', { addresses: ['2001:db8:8::10'], gateways: ['2001:db8:8::1'], ssh: null });
    const d = p.decide(notice('2001:db8:8::3'), T0) as PolicyDecision;
    // ::3 shares 126 bits with the gateway ::1: /127.
    assert.equal(d.ban!.key, '2001:db8:8::2/127');
    assert.equal(d.narrowedBecause, 'trusted 2001:db8:8:0:8000::/65, own address 2001:db8:8::10, default gateway 2001:db8:8::1');
    const t = p.decide(notice('2001:db8:8:0:8000::9'), T0);
    assert.equal(t.action, 'ignore', 'inside the trusted network: never banned');
    assert.equal(t.protectedBy, 'trusted 2001:db8:8:0:8000::/65');
    const far = p.decide(notice('2001:db8:8:0:4000::9'), T0);
    assert.equal(far.ban!.key, '2001:db8:8:0:4000::/66');
  });

  it('defect 16: an operator\'s exact scope holding a protected address is refused, not narrowed', () => {
    const p = lan();
    const r = p.ban(Cidr.parse('2001:db8:8::/64')!, op(), T0);
    assert.equal(r.ban, null);
    assert.equal(r.refused, 'not banned: own address 2001:db8:8::10');
    assert.equal(r.narrowedFrom, null);
    assert.equal(p.ban(Cidr.parse('2001:db8:8::40/122')!, op(), T0).ban!.key, '2001:db8:8::40/122');
  });

  it('defect 16: covering() and supersession work with narrowed scopes of mixed prefix lengths', () => {
    const p = lan();
    const single = p.ban(Cidr.parse('2001:db8:8::41')!, op(), T0);
    assert.equal(single.ban!.key, '2001:db8:8::41/128');
    const d = p.decide(notice('2001:db8:8::66'), T0 + 1);
    assert.equal(d.ban!.key, '2001:db8:8::40/122');
    assert.deepEqual(p.takeLifts().map((l) => [l.ban.key, l.reason]), [['2001:db8:8::41/128', 'superseded']]);
    assert.equal(p.covering(Cidr.parse('2001:db8:8::41')!)?.key, '2001:db8:8::40/122');
    assert.equal(p.covering(Cidr.parse('2001:db8:8::20')!), null, 'outside the narrowed scope');
    const again = p.decide(notice('2001:db8:8::70', 'sweep'), T0 + 2);
    assert.equal(again.action, 'alert');
    assert.match(again.reason, /^already banned: 2001:db8:8::40\/122 until /);
    assert.equal(p.decide(notice('2001:db8:8:0:8000::5'), T0 + 3).ban!.key, '2001:db8:8:0:8000::/65');
    assert.equal(p.covering(Cidr.parse('2001:db8:8:0:ffff::1')!)?.key, '2001:db8:8:0:8000::/65');
    assert.equal(p.activeCount, 2);
    // An IPv4 /25 narrowed ban coexists with IPv6 ones of other lengths.
    const q = policy('block:\n  ipv4_prefix: 24\n', { addresses: ['198.18.0.2', '2001:db8:8::10'], gateways: [], ssh: null });
    q.decide(notice('198.18.0.200'), T0);
    q.decide(notice('2001:db8:8::66'), T0);
    assert.equal(q.covering(Cidr.parse('198.18.0.129')!)?.key, '198.18.0.128/25');
    assert.equal(q.covering(Cidr.parse('198.18.0.100')!), null);
    assert.deepEqual(p.unban(Cidr.parse('2001:db8:8::/64')!, T0 + 4).map((l) => l.ban.key).sort(), ['2001:db8:8:0:8000::/65', '2001:db8:8::40/122']);
    assert.equal(p.activeCount, 0);
  });
});

describe('decide: times and durations beyond range', () => {
  it('defect 17: formatTime is total: NaN, Infinity and times beyond the Date range never throw', () => {
    assert.equal(formatTime(T0), '2027-01-15T08:00:00Z');
    for (const t of [NaN, Infinity, -Infinity, 1e20, -1e20, 8.64e12 + 1, 2 ** 63]) assert.match(formatTime(t), /^t=.*s$/, String(t));
    assert.equal(formatTime(8.64e12), '+275760-09-13T00:00:00Z', 'the last time Date holds');
  });

  it('defect 17: Policy.ban refuses non-finite, non-positive and over-ten-year durations with a reason', () => {
    const p = policy();
    for (const d of [NaN, Infinity, -Infinity, 1e308, -5, 0, MAX_BAN_SECONDS + 1]) {
      const r = p.ban(Cidr.parse('198.18.70.1')!, op(d), T0);
      assert.equal(r.ban, null, String(d));
      assert.match(r.refused!, /^not banned: duration .*(not a finite number|not positive|over ten years)/, String(d));
    }
    assert.equal(p.activeCount, 0);
    assert.equal(p.ban(Cidr.parse('198.18.70.1')!, op(MAX_BAN_SECONDS), T0).ban!.until, T0 + MAX_BAN_SECONDS);
  });

  it('defect 17: notices with times beyond the Date range are decided without throwing', () => {
    const p = policy();
    for (const now of [1e300, 8.64e15, Number.MAX_VALUE / 2]) {
      const src = `198.18.71.${(now % 200) | 0 || 1}`;
      const d = p.decide(notice(src, 'syn_scan', 2, now), now);
      assert.equal(d.action, 'ban', d.reason);
      const other = p.decide(notice(src, 'sweep', 2, now), now);
      assert.match(other.reason, /^already banned: .* until t=.*s$/);
      p.clear();
    }
    // The clock going back from there does not stop bans (the rate bucket restarts).
    assert.equal(p.decide(notice('198.18.72.1', 'syn_scan', 2, T0), T0).action, 'ban');
  });
});

describe('host facts: SSH sessions to the local sshd', () => {
  // /proc/net/tcp prints each 32-bit group as the host-order word in hex: on little-endian
  // machines 198.18.50.2 (c6 12 32 02) reads 023212C6.
  const HEAD = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const line = (i: number, local: string, remote: string, st: string, inode: number): string =>
    `   ${i}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;
  const TCP4 =
    HEAD +
    line(0, '00000000:0016', '00000000:0000', '0A', 111) + // sshd on 0.0.0.0:22
    line(1, '023212C6:0016', '093212C6:D431', '01', 112) + // 198.18.50.9 -> :22 established
    line(2, '023212C6:1F90', '0A3212C6:D432', '01', 113) + // 198.18.50.10 -> :8080 (not ssh)
    line(3, '023212C6:D433', '0B3212C6:0016', '01', 114); // outgoing to 198.18.50.11:22 (not a peer)
  const TCP6 =
    HEAD +
    line(0, '00000000000000000000000000000000:0016', '00000000000000000000000000000000:0000', '0A', 211) + // sshd on [::]:22
    line(1, 'B80D0120000008000000000010000000:0016', 'B80D0120000008000000000066000000:C350', '01', 212) + // 2001:db8:8::66 -> :22
    line(2, '0000000000000000FFFF0000023212C6:0016', '0000000000000000FFFF00000C3212C6:C351', '01', 213) + // mapped 198.18.50.12
    line(3, 'B80D0120000008000000000010000000:0050', 'B80D0120000008000000000077000000:C352', '01', 214); // :80, not ssh

  it('defect 15: parses /proc/net/tcp and tcp6 text (IPv4, IPv6 and IPv4-mapped, little-endian words)', () => {
    const v4 = parseProcNetTcp(TCP4, true);
    assert.equal(v4.length, 4);
    assert.deepEqual([v4[1]!.local.toString(), v4[1]!.localPort, v4[1]!.remote.toString(), v4[1]!.remotePort, v4[1]!.state, v4[1]!.inode], ['198.18.50.2', 22, '198.18.50.9', 0xd431, 1, 112]);
    assert.equal(v4[0]!.state, 0x0a);
    const v6 = parseProcNetTcp(TCP6, true);
    assert.deepEqual(v6.map((s) => `${s.local}|${s.remote}`), ['::|::', '2001:db8:8::10|2001:db8:8::66', '198.18.50.2|198.18.50.12', '2001:db8:8::10|2001:db8:8::77']);
    assert.equal(v6[2]!.remote.v6, false, 'an IPv4-mapped peer is an IPv4 address');
    // Big-endian machines print the words in network order.
    assert.equal(parseProcNetTcp(HEAD + line(0, 'C6123202:0016', 'C6123209:D431', '01', 1), false)[0]!.remote.toString(), '198.18.50.9');
    assert.deepEqual(parseProcNetTcp('garbage\n  0: zz:zz\n'), []);
  });

  it('defect 15: finds sshd\'s inodes, its listeners, and the peers of established connections to them', () => {
    const inodes = sshdInodes([
      { comm: 'sshd\n', links: ['socket:[111]', 'socket:[211]', '/dev/null', 'pipe:[5]'] },
      { comm: 'node', links: ['socket:[113]'] },
      { comm: 'sshd', links: ['socket:[999]'] }, // sshd -i: an accepted connection
    ]);
    assert.deepEqual([...inodes].sort(), [111, 211, 999]);
    const sockets = [...parseProcNetTcp(TCP4, true), ...parseProcNetTcp(TCP6, true)];
    const listeners = sshdListeners(sockets, inodes);
    assert.deepEqual(listeners, [{ addr: null, port: 22 }, { addr: null, port: 22 }]);
    assert.deepEqual(sshPeersOf(sockets, listeners, inodes).map(String), ['198.18.50.9', '2001:db8:8::66', '198.18.50.12']);
    // A listener on one address does not make connections to another address on that port peers.
    assert.deepEqual(sshPeersOf(sockets, [{ addr: IpAddr.parse('198.18.50.3'), port: 22 }], new Set()).map(String), []);
    // Socket activation: systemd holds the listener, sshd -i the connection.
    const activated = parseProcNetTcp(HEAD + line(0, '023212C6:0016', '0D3212C6:D431', '01', 999), true);
    assert.deepEqual(sshPeersOf(activated, [], inodes).map(String), ['198.18.50.13']);
    assert.deepEqual(sshdConfigPorts('# Port 23\nPort 2222\n  port 22 # main\nPortX 9\nPort 99999\n'), [2222, 22]);
    assert.deepEqual(sshdConfigPorts(''), []);
  });

  it('defect 15: only authenticated sessions are protected, not a guesser\'s open connection', () => {
    const procs = [
      { comm: 'sshd', cmdline: 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups', links: ['socket:[111]', 'socket:[211]'] },
      { comm: 'sshd', cmdline: 'sshd: root [priv]', links: ['socket:[901]'] },
      { comm: 'sshd', cmdline: 'sshd: root@pts/0', links: ['socket:[901]'] },
      { comm: 'sshd', cmdline: 'sshd: unknown [net]', links: ['socket:[902]'] },
      { comm: 'sshd-session', cmdline: 'sshd-session: admin@notty', links: ['socket:[903]'] },
    ];
    assert.deepEqual([...sessionInodes(procs)].sort(), [901, 903]);
    const sockets = parseProcNetTcp(
      HEAD + line(0, '023212C6:0016', '093212C6:D431', '01', 901) + line(1, '023212C6:0016', '0A3212C6:D432', '01', 902) + line(2, '023212C6:0016', '0B3212C6:D433', '01', 903) + line(3, '00000000:0016', '00000000:0000', '0A', 111),
      true,
    );
    const inodes = sshdInodes(procs);
    const listeners = sshdListeners(sockets, inodes);
    assert.deepEqual(sshPeersOf(sockets, listeners, inodes, sessionInodes(procs)).map(String), ['198.18.50.9', '198.18.50.11'], 'the logged-in sessions only');
    assert.deepEqual(sshPeersOf(sockets, listeners, inodes).map(String), ['198.18.50.9', '198.18.50.10', '198.18.50.11'], 'without process information, every connection');
  });

  it('defect 15: SSH peers are protected: never banned, with the reason', () => {
    const p = policy();
    p.setHost({ addresses: [], gateways: [], sshClient: null, sshPeers: [IpAddr.parse('198.18.50.9')!, IpAddr.parse('2001:db8:8::66')!] });
    const d = p.decide(notice('198.18.50.9'), T0);
    assert.equal(d.reason, 'not banned: SSH session from 198.18.50.9');
    assert.equal(p.decide(notice('2001:db8:8::66'), T0).reason, 'not banned: SSH session from 2001:db8:8::66');
    assert.equal(p.decide(notice('2001:db8:8::77'), T0).ban!.key, '2001:db8:8::70/124', 'a neighbour is narrowed around the peer');
    assert.ok(p.protect.list().some((e) => e.why === 'SSH session from 198.18.50.9'));
  });

  it('defect 15: a live listener whose comm is sshd makes its connected peer an SSH peer in hostFacts()', { skip: isRoot ? false : 'needs root for network namespaces', timeout: 60000 }, async (t) => {
    const id = process.pid % 100000;
    const ns = { h: `pal-sh-${id}`, c: `pal-sc-${id}` };
    const dir = tempDir(t);
    const children = withNamespaces(
      t,
      () => {
        for (const n of Object.values(ns)) {
          must(`ip netns add ${n}`);
          must(`ip -n ${n} link set lo up`);
        }
        must(`ip link add ps${id} netns ${ns.h} type veth peer name pc${id} netns ${ns.c}`);
        must(`ip -n ${ns.h} addr add 198.18.52.2/24 dev ps${id}`);
        must(`ip -n ${ns.c} addr add 198.18.52.9/24 dev pc${id}`);
        must(`ip -n ${ns.c} addr add 198.18.52.10/24 dev pc${id}`);
        must(`ip -n ${ns.c} addr add 198.18.52.11/24 dev pc${id}`);
        must(`ip -n ${ns.h} link set ps${id} up`);
        must(`ip -n ${ns.c} link set pc${id} up`);
      },
      () => {
        for (const n of Object.values(ns)) sh(`ip netns del ${n}`);
      },
    );
    const fake = join(dir, 'sshd');
    symlinkSync(process.execPath, fake); // comm is the exec'd name: "sshd"
    // The listener retitles itself as sshd does: a logged-in session, or one still before login.
    const listen = (bin: string, port: number, title: string) => {
      const c = spawn('ip', ['netns', 'exec', ns.h, bin, '-e', `process.title = ${JSON.stringify(title)}; require('node:net').createServer((s) => s.on('error', () => {})).listen(${port}, '198.18.52.2', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return waitFor(c, 'stdout', /ready/, 10000);
    };
    await listen(fake, 2222, 'sshd: root@notty');
    await listen(process.execPath, 2223, 'node'); // not sshd
    await listen(fake, 2224, 'sshd: unknown [net]'); // sshd, before login
    const hold = (src: string, port: number) => {
      const c = spawn('ip', ['netns', 'exec', ns.c, process.execPath, '-e', `require('node:net').connect({ host: '198.18.52.2', port: ${port}, localAddress: '${src}' }, () => console.log('connected')).on('error', (e) => { console.error(e.message); process.exit(1); })`], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return waitFor(c, 'stdout', /connected/, 10000);
    };
    await hold('198.18.52.9', 2222);
    await hold('198.18.52.10', 2223);
    await hold('198.18.52.11', 2224);
    const host = new URL('../src/pipeline/host.js', import.meta.url).href;
    const r = must(`ip netns exec ${ns.h} ${process.execPath} --input-type=module -e "const m = await import('${host}'); console.log(JSON.stringify({ facts: m.hostFacts({}).sshPeers.map(String), fast: m.sshPeers().map(String), async: (await m.sshPeersAsync()).map(String) }))"`);
    const got = JSON.parse(r) as { facts: string[]; fast: string[]; async: string[] };
    assert.deepEqual(got, { facts: ['198.18.52.9'], fast: ['198.18.52.9'], async: ['198.18.52.9'] }, 'the peer of a logged-in sshd session, not of the other listener nor of a session before login');
  });
});
