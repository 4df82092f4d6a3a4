// The brute-force detector in-process, on crafted sessions: FTP, POP3, IMAP and SMTP failure
// replies with the usernames tried; SSH judged from the server's encrypted reply sizes (failures,
// a success); sessions of TLS-wrapped services by their shape; and what is never flagged: a user
// who mistypes twice and logs in, a deploy tool's 50 successful logins a minute, a monitoring check
// every 10 s, and a non-SSH protocol on port 22.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, eth, ipv4, tcp } from '../tools/craft.js';
import { harness } from './helpers/engine.js';

const T0 = 1764000000;
const SERVER = '198.18.4.4';
const ATTACKER = '198.18.5.5';

/** One TCP session from `client`: handshake, then `turns` ([from client?, bytes]), then FIN both ways. */
function session(h: ReturnType<typeof harness>, t: number, client: string, sport: number, dport: number, turns: [boolean, Uint8Array][]): number {
  let cs = 1000;
  let ss = 5000;
  const send = (fromClient: boolean, flags: number, data: Uint8Array = Buffer.alloc(0)) => {
    const [src, dst, sp, dp, seq, ack] = fromClient ? [client, SERVER, sport, dport, cs, ss] : [SERVER, client, dport, sport, ss, cs];
    h.send(t, eth(0x0800, ipv4({ src, dst, proto: 6 }, tcp({ sport: sp, dport: dp, seq, ack, flags }, data))));
    if (fromClient) cs += data.length;
    else ss += data.length;
    t += 0.001;
  };
  send(true, F.SYN);
  send(false, F.SYN | F.ACK);
  send(true, F.ACK);
  for (const [fromClient, data] of turns) send(fromClient, F.PSH | F.ACK, data);
  send(true, F.FIN | F.ACK);
  send(false, F.FIN | F.ACK);
  send(true, F.ACK);
  return t;
}

const text = (s: string) => Buffer.from(s, 'latin1');
const C = (s: string): [boolean, Uint8Array] => [true, text(s)];
const S = (s: string): [boolean, Uint8Array] => [false, text(s)];

/** An SSH binary packet of message `msg` padded to `len` bytes on the wire (plaintext phase). */
function sshPacket(msg: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt32BE(len - 4, 0);
  b[4] = 4;
  b[5] = msg;
  return b;
}
/** NEWKEYS as OpenSSH sends it: packet_length 12, padding 10, message 21. */
const NEWKEYS = Buffer.from('0000000c0a15' + '00'.repeat(10), 'hex');

/**
 * An SSH session's segments: identification strings, KEXINIT, key exchange, NEWKEYS both ways,
 * then the encrypted exchange: the service accept (`sizes.accept` bytes from the server) and one
 * server reply per entry of `replies`, each after a client request.
 */
function sshTurns(replies: number[], accept = 44): [boolean, Uint8Array][] {
  const turns: [boolean, Uint8Array][] = [
    C('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'),
    S('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'),
    [true, sshPacket(20, 1336)],
    [false, Buffer.concat([sshPacket(20, 1080), sshPacket(31, 568), NEWKEYS])],
    [true, Buffer.concat([sshPacket(30, 48), NEWKEYS])],
    [true, Buffer.alloc(44, 0xaa)],
    [false, Buffer.alloc(accept, 0xbb)],
  ];
  for (const r of replies) {
    turns.push([true, Buffer.alloc(148, 0xcc)]);
    turns.push([false, Buffer.alloc(r, 0xdd)]);
  }
  return turns;
}

const bruteforce = (h: ReturnType<typeof harness>) => h.alerts.filter((d) => d.notice.kind === 'bruteforce');

/** The evidence of the one brute-force notice, checked to name `service` and `method`. */
function only(h: ReturnType<typeof harness>, service: string, method: string): any {
  const a = bruteforce(h);
  assert.equal(a.length, 1);
  const e = a[0]!.notice.evidence as any;
  assert.equal(e.service, service);
  assert.equal(e.method, method);
  return e;
}

describe('bruteforce: cleartext services', () => {
  it('FTP: five 530s after PASS from one source are a notice with the usernames, banned', () => {
    const h = harness();
    let t = T0;
    const users = ['root', 'admin', 'root', 'test', 'oracle'];
    users.forEach((u, i) => {
      t = session(h, t + 1, ATTACKER, 40000 + i, 21, [S('220 (vsFTPd 3.0.3)\r\n'), C(`USER ${u}\r\n`), S('331 Please specify the password.\r\n'), C('PASS guess\r\n'), S('530 Login incorrect.\r\n'), C('QUIT\r\n'), S('221 Goodbye.\r\n')]);
    });
    const a = bruteforce(h);
    assert.equal(a.length, 1);
    const n = a[0]!.notice;
    assert.equal(n.src.toString(), ATTACKER);
    assert.equal(n.dst!.toString(), SERVER);
    assert.equal(n.dstPort, 21);
    assert.equal(a[0]!.action, 'ban');
    const e = n.evidence as any;
    assert.equal(e.view, 'packets');
    assert.equal(e.service, 'ftp');
    assert.equal(e.failures, 5);
    assert.deepEqual(e.usernames, ['root', 'admin', 'test', 'oracle']);
    assert.equal(e.sessions, 5);
  });

  it('a user who mistypes twice and then logs in is never flagged; nor is a 530 that answers no PASS', () => {
    const h = harness();
    let t = T0;
    t = session(h, t, ATTACKER, 40000, 21, [
      S('220 ready\r\n'), C('USER alice\r\n'), S('331 pw\r\n'), C('PASS typo1\r\n'), S('530 Login incorrect.\r\n'),
      C('USER alice\r\n'), S('331 pw\r\n'), C('PASS typo2\r\n'), S('530 Login incorrect.\r\n'),
      C('USER alice\r\n'), S('331 pw\r\n'), C('PASS right\r\n'), S('230 Login successful.\r\n'),
    ]);
    // A client that sends commands before logging in gets 530s that are no failed logins.
    for (let i = 0; i < 10; i++) t = session(h, t + 1, '198.18.5.6', 41000 + i, 21, [S('220 ready\r\n'), C('LIST\r\n'), S('530 Please login with USER and PASS.\r\n')]);
    assert.deepEqual(bruteforce(h), []);
  });

  it('POP3 -ERR, IMAP tagged NO and SMTP 535 after their login commands', () => {
    const h = harness();
    let t = T0;
    for (let i = 0; i < 5; i++) t = session(h, t + 1, '198.18.6.1', 42000 + i, 110, [S('+OK POP3 ready\r\n'), C('USER bob\r\n'), S('+OK\r\n'), C('PASS x\r\n'), S('-ERR [AUTH] Authentication failed.\r\n')]);
    for (let i = 0; i < 5; i++) t = session(h, t + 1, '198.18.6.2', 43000 + i, 143, [S('* OK IMAP4rev1 ready\r\n'), C(`a${i} LOGIN carol secret\r\n`), S(`a${i} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`)]);
    for (let i = 0; i < 5; i++) t = session(h, t + 1, '198.18.6.3', 44000 + i, 587, [S('220 mail ESMTP\r\n'), C('EHLO x\r\n'), S('250 AUTH PLAIN LOGIN\r\n'), C('AUTH PLAIN AGRhdmUAeA==\r\n'), S('535 5.7.8 Error: authentication failed\r\n')]);
    const by = new Map(bruteforce(h).map((d) => [d.notice.src.toString(), d.notice.evidence as any]));
    assert.equal(by.get('198.18.6.1')?.service, 'pop3');
    assert.deepEqual(by.get('198.18.6.1')?.usernames, ['bob']);
    assert.equal(by.get('198.18.6.2')?.service, 'imap');
    assert.deepEqual(by.get('198.18.6.2')?.usernames, ['carol']);
    assert.equal(by.get('198.18.6.3')?.service, 'smtp');
    assert.equal(by.size, 3);
  });
});

describe('bruteforce: SSH from the encrypted reply sizes', () => {
  it('failure replies repeating their size are failed guesses, counted as each connection ends: five make a notice', () => {
    const h = harness();
    let t = T0;
    // Each session: the "none" request's failure (52 bytes: not a guess), then two password failures.
    for (let i = 0; i < 2; i++) t = session(h, t + 2, ATTACKER, 50000 + i, 22, sshTurns([52, 52, 52]));
    assert.deepEqual(bruteforce(h), [], 'four failures');
    t = session(h, t + 2, ATTACKER, 50002, 22, sshTurns([52, 52, 52]));
    const e = only(h, 'ssh', 'ssh_reply_sizes');
    assert.equal(e.failures, 6);
    assert.equal(e.sessions, 3);
    assert.deepEqual(e.usernames, []);
  });

  it('a success (16 bytes under the service accept) is no failure: 50 key logins a minute, and two typos then a login, are never flagged', () => {
    const h = harness();
    let t = T0;
    // A deploy tool: "none" fails (52), the key is accepted (44 - 16 = 28), then its session.
    for (let i = 0; i < 50; i++) t = session(h, T0 + i * 1.2, '198.18.7.7', 51000 + i, 22, [...sshTurns([52, 28]), [false, Buffer.alloc(600, 1)], [true, Buffer.alloc(100, 2)]]);
    // A user: two wrong passwords, then the right one.
    t = session(h, t + 5, '198.18.7.8', 52000, 22, sshTurns([52, 52, 52, 28]));
    assert.deepEqual(bruteforce(h), []);
  });

  it('a connection that goes on to a session after its failure replies (a success the size rule missed) counts none of them', () => {
    const h = harness();
    let t = T0;
    const interactive: [boolean, Uint8Array][] = [];
    for (let k = 0; k < 10; k++) interactive.push([true, Buffer.alloc(36, 5)], [false, Buffer.alloc(36 + (k % 3) * 16, 6)]);
    for (let i = 0; i < 10; i++) t = session(h, t + 2, '198.18.7.11', 57000 + i, 22, [...sshTurns([52, 52]), ...interactive]);
    // And no more than OpenSSH's MaxAuthTries (6) from one connection, however many replies match.
    t = session(h, t + 2, '198.18.7.12', 58000, 22, sshTurns([52, 52, 52, 52]));
    assert.deepEqual(bruteforce(h), []);
    const many = harness();
    session(many, T0, '198.18.7.13', 58001, 22, sshTurns(new Array(20).fill(52)));
    assert.equal(only(many, 'ssh', 'ssh_reply_sizes').failures, 6, 'one connection counts for at most 6');
  });

  it('a monitoring check every 10 s (identification strings only) and another protocol on port 22 are never flagged', () => {
    const h = harness();
    let t = T0;
    for (let i = 0; i < 60; i++) t = session(h, T0 + i * 10, '198.18.7.9', 53000 + i, 22, [S('SSH-2.0-OpenSSH_9.2p1\r\n'), C('SSH-2.0-check_ssh\r\n')]);
    for (let i = 0; i < 20; i++) t = session(h, t + 1, '198.18.7.10', 54000 + i, 22, [C('GET / HTTP/1.1\r\n\r\n'), S('HTTP/1.1 400 Bad Request\r\n\r\n'), [false, Buffer.alloc(52)], [true, Buffer.alloc(52)], [false, Buffer.alloc(52)]]);
    assert.deepEqual(bruteforce(h), []);
  });
});

describe('bruteforce: session shape (TLS-wrapped services)', () => {
  it('twenty short, small, similar IMAPS sessions are a notice; ten are not', () => {
    const tls = (i: number): [boolean, Uint8Array][] => [[true, Buffer.alloc(517, 1)], [false, Buffer.alloc(2900 + (i % 3) * 10, 2)], [true, Buffer.alloc(126, 3)], [false, Buffer.alloc(300, 4)]];
    const few = harness();
    for (let i = 0; i < 10; i++) session(few, T0 + i * 2, ATTACKER, 55000 + i, 993, tls(i));
    assert.deepEqual(bruteforce(few), []);
    const many = harness();
    for (let i = 0; i < 20; i++) session(many, T0 + i * 2, ATTACKER, 55000 + i, 993, tls(i));
    assert.equal(only(many, 'imap', 'session_shape').sessions, 20);
  });

  it('long or large sessions are no login attempts', () => {
    const h = harness();
    for (let i = 0; i < 30; i++) session(h, T0 + i * 2, ATTACKER, 56000 + i, 993, [[true, Buffer.alloc(517, 1)], [false, Buffer.alloc(20000, 2)]]);
    assert.deepEqual(bruteforce(h), []);
  });
});
