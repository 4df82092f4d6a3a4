// Password guessing in packets, per (source, service). SSH is judged from the sizes of the
// server's first encrypted replies, as Zeek's SSH analyzer reads them (a failure reply repeats its
// size; a success is 16 bytes shorter than the service accept). Cleartext logins count the
// server's failure replies (FTP 530, POP3 -ERR, IMAP NO, SMTP 535, telnet, Redis, MySQL 1045,
// PostgreSQL 28P01, MSSQL 18456, VNC, SIP 403), with the usernames tried. Other encrypted services
// (RDP, TLS-wrapped mail) are judged by the shape of many short, small, similar sessions. Only the
// first bytes of each service flow are read, in place; per-flow state rides in the flow's record
// (FlowTable.aux2) and a bounded pool. See docs/bruteforce.md.

import { IpAddr } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import { SERVICE_PORTS, SERVICES, type Service } from '../core/kinds.js';
import type { NoticeQueue } from '../core/notice.js';
import { FE, PF, TCP, type Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';
import { FS } from '../flow/flow-table.js';
import type { Detector, DetectorEnv, DetectorFactory, DetectorStats } from './detector.js';

export { SERVICE_PORTS, SERVICES, type Service };
import { TABLE_SLACK } from './distinct.js';

/** Ports whose sessions are TLS from the first byte: judged by shape, whatever the service. */
const TLS_PORTS = new Set([465, 993, 995]);

export interface BruteforceConfig {
  enabled: boolean;
  /** Failed logins from one source to one service, within `window`, that make a notice. */
  failures: number;
  window: number;
  /** Shape-judged services (RDP, TLS-wrapped mail): short similar sessions within `window`. */
  sessions: number;
  /** A shape-judged session lasts at most this long, and carries at most `session_bytes` each way. */
  session_time: number;
  session_bytes: number;
  /** Bytes of each direction of a flow read at most (the login phase). */
  inspect_bytes: number;
  /** (source, service) records kept; the least recently seen goes first. */
  max_sources: number;
  /** Service flows followed at once (their login phase); the oldest is dropped first. */
  max_flows: number;
  services: Partial<Record<Service, number[]>>;
}

/** How a service's outcomes are read. */
const M_SSH = 1;
const M_LINE = 2;
const M_MYSQL = 3;
const M_PGSQL = 4;
const M_MSSQL = 5;
const M_VNC = 6;
const M_SHAPE = 7;
const METHOD: Record<Service, number> = {
  ssh: M_SSH,
  ftp: M_LINE,
  telnet: M_LINE,
  smtp: M_LINE,
  pop3: M_LINE,
  imap: M_LINE,
  rdp: M_SHAPE,
  vnc: M_VNC,
  mysql: M_MYSQL,
  postgresql: M_PGSQL,
  mssql: M_MSSQL,
  redis: M_LINE,
  sip: M_LINE,
};
const METHOD_NAME = ['', 'ssh_reply_sizes', 'reply_codes', 'reply_codes', 'reply_codes', 'reply_codes', 'reply_codes', 'session_shape'];

const SVC_FTP = SERVICES.indexOf('ftp') + 1;
const SVC_TELNET = SERVICES.indexOf('telnet') + 1;
const SVC_SMTP = SERVICES.indexOf('smtp') + 1;
const SVC_POP3 = SERVICES.indexOf('pop3') + 1;
const SVC_IMAP = SERVICES.indexOf('imap') + 1;
const SVC_REDIS = SERVICES.indexOf('redis') + 1;
const SVC_SIP = SERVICES.indexOf('sip') + 1;

// aux2 values: 0 untouched (no bytes yet), 1 ignored from now on, 2 a shape-judged flow (its
// close is all that counts), 3 + i: pool entry i.
const IGNORE = 1;
const SHAPE = 2;
const POOL_AT = 3;

// Pool entry values (f64), E_STRIDE per entry.
const E_FLOW = 0; // flow slot, -1 when free
const E_FIRST = 1; // the flow's first-seen time (a reused flow slot is another flow)
const E_SVC = 2;
const E_BITS = 3;
const E_S = 4; // SSH: size of the first encrypted server reply (the service accept)
const E_F = 5; // SSH: size of the failure reply
const E_FAILS = 6; // failures in this flow
const E_ULEN = 7; // bytes of the username last given in this flow
const E_METHOD = 8;
const E_OTHER = 9; // SSH: server segments after the failure reply's size was learnt that were neither a failure nor a success
const E_STRIDE = 10;
/** OpenSSH's MaxAuthTries: the failures one SSH connection can carry, and so counts for at most. */
const SSH_MAX_TRIES = 6;
/**
 * More server segments than this of neither size after the failure reply's, with no success seen:
 * the login went on to a session (a success the size rule did not recognise, whose later packets
 * may happen to have the failure's size), so the connection's failures are dropped.
 */
const SSH_SESSION_AFTER = 4;
const UNAME = 32;

// E_BITS.
const B_C_ENC = 1; // the client sent its NEWKEYS
const B_S_ENC = 2; // the server sent its NEWKEYS
const B_C_DATA = 4; // the client sent encrypted data
const B_SKIPPED = 8; // a server banner after the service accept was skipped (Zeek's rule)
const B_DONE = 16; // the login's outcome is known (a success): nothing more to read
const B_PENDING = 32; // a login command awaits its reply (cleartext)
const B_SUCCESS = 64;
const B_C_BANNER = 128; // the client's first bytes were an SSH identification
const B_S_BANNER = 256;
const B_DISCARD = 512; // SSH: the connection went on to a session; its failures do not count

// (source, service) record values (the window start first: KeyTable.restartWindow).
const R_START = 0;
const R_FAILS = 1;
const R_SUCC = 2;
const R_SESS = 3; // sessions that failed a login (or shape sessions)
const R_LAST = 4;
const R_FIRED = 5;
const R_CMIN = 6;
const R_CMAX = 7;
const R_SMIN = 8;
const R_SMAX = 9;
const R_NUSER = 10;
const R_DST = 11; // + 0..3: the last victim's address words
const R_DPORT = 15;
const R_PROTO = 16;
const R_COUNT = 17;
const USERS = 5;

export const SIG_BRUTEFORCE_BASE = 9000300;

/** A NEWKEYS message (RFC 4253 7.3) in a plaintext segment: the offset after it, or -1. */
function newKeysEnd(b: Uint8Array, from: number, end: number): number {
  // uint32 packet_length L (L mod 8 = 4, at most 252), padding_length L - 2, then message 21.
  for (let i = from + 5; i < end; i++) {
    if (b[i] !== 21) continue;
    const l = b[i - 2]!;
    if (b[i - 5] === 0 && b[i - 4] === 0 && b[i - 3] === 0 && (l & 7) === 4 && b[i - 1] === l - 2) return i - 1 + l;
  }
  return -1;
}

/** True when the `n` bytes at `b[o]` start with the ASCII text `t` (case-insensitive for letters). */
function startsWith(b: Uint8Array, o: number, n: number, t: string): boolean {
  if (n < t.length) return false;
  for (let i = 0; i < t.length; i++) if ((b[o + i]! | 0x20) !== (t.charCodeAt(i) | 0x20)) return false;
  return true;
}

/** The offset of the ASCII text `t` within `b[o, o + n)`, or -1. */
function indexOf(b: Uint8Array, o: number, n: number, t: string): number {
  const c0 = t.charCodeAt(0);
  for (let i = o, end = o + n - t.length; i <= end; i++) if (b[i] === c0 && startsWith(b, i, t.length, t)) return i;
  return -1;
}

export class BruteforceDetector implements Detector {
  readonly name = 'bruteforce';
  private readonly portSvc = new Uint8Array(65536);
  /** How each port's sessions are read (M_*), as the server's port. */
  private readonly portMethod = new Uint8Array(65536);
  /** One bit a port: a service's (8 KiB, so that the test every packet makes stays in cache). */
  private readonly portBits = new Int32Array(2048);
  private readonly t: KeyTable;
  private readonly users: Uint8Array;
  private readonly userLen: Uint8Array;
  private readonly pool: Float64Array;
  private readonly poolUser: Uint8Array;
  private readonly poolSize: number;
  private poolNext = 0;
  private readonly flows: FlowTable;
  private readonly clock: Clock;
  private fired = 0;
  private droppedFlows = 0;

  constructor(
    private readonly cfg: BruteforceConfig,
    env: DetectorEnv,
  ) {
    this.flows = env.flows!;
    this.clock = env.clock;
    SERVICES.forEach((s, i) => {
      for (const port of cfg.services[s] ?? SERVICE_PORTS[s]) {
        this.portSvc[port] = i + 1;
        this.portMethod[port] = TLS_PORTS.has(port) ? M_SHAPE : METHOD[s];
        this.portBits[port >>> 5]! |= 1 << (port & 31);
      }
    });
    this.t = new KeyTable(5, cfg.max_sources, env.clock, R_COUNT, TABLE_SLACK);
    this.users = new Uint8Array(cfg.max_sources * USERS * UNAME);
    this.userLen = new Uint8Array(cfg.max_sources * USERS);
    this.poolSize = cfg.max_flows;
    this.pool = new Float64Array(cfg.max_flows * E_STRIDE);
    for (let i = 0; i < cfg.max_flows; i++) this.pool[i * E_STRIDE + E_FLOW] = -1;
    this.poolUser = new Uint8Array(cfg.max_flows * UNAME);
  }

  onPacket(p: Packet, _clock: Clock, out: NoticeQueue): void {
    // Most packets carry no bytes and neither open nor close their flow: nothing to read.
    if (p.payLen === 0 && (p.flowEv & (FE.NEW | FE.CLOSED)) === 0) return;
    const bits = this.portBits;
    if (((bits[p.dport >>> 5]! >>> (p.dport & 31)) & 1) === 0 && ((bits[p.sport >>> 5]! >>> (p.sport & 31)) & 1) === 0) return;
    if ((p.flags & (PF.TCP | PF.UDP)) === 0) return;
    const slot = p.flowSlot;
    if (slot < 0) return;
    const fl = this.flows;
    const a = fl.aux2(slot);
    if (a === IGNORE) return;
    if ((p.flowEv & FE.CLOSED) !== 0) {
      if (a !== 0) this.close(p, slot, a, out);
      return;
    }
    if (p.payLen === 0 || a === SHAPE) return;
    if (a === 0) {
      this.open(p, slot);
      return;
    }
    const e = (a - POOL_AT) * E_STRIDE;
    const pl = this.pool;
    if (fl.payload(slot, p.flowDir) > this.cfg.inspect_bytes || (pl[e + E_BITS]! & B_DONE) !== 0) {
      // Past the login phase: an SSH connection that got this far without a success went on to a
      // session; the flow keeps its entry only for the session's count at its close.
      if (pl[e + E_METHOD] === M_SSH && (pl[e + E_BITS]! & B_SUCCESS) === 0) pl[e + E_BITS] = pl[e + E_BITS]! | B_DISCARD;
      if (pl[e + E_FAILS] === 0) this.release(slot, e);
      return;
    }
    this.inspect(p, e, out);
  }

  /**
   * A service flow's first bytes: followed when its server port is a service's, it began with its
   * handshake and the bytes look like the protocol (an SSH port's first bytes are `SSH-`). Until
   * then a flow holds nothing.
   */
  private open(p: Packet, slot: number): void {
    const fl = this.flows;
    const serverPort = p.flowDir === 0 ? p.dport : p.sport;
    const method = this.portMethod[serverPort]!;
    if (method === 0 || ((p.flags & PF.TCP) !== 0 && (fl.state(slot) & FS.MIDSTREAM) !== 0)) {
      fl.setAux2(slot, IGNORE);
      return;
    }
    if (method === M_SHAPE) {
      fl.setAux2(slot, SHAPE);
      return;
    }
    if (method === M_SSH && !startsWith(p.data, p.payOff, Math.min(p.payLen, p.off + p.caplen - p.payOff), 'SSH-')) {
      fl.setAux2(slot, IGNORE);
      return;
    }
    const i = this.alloc();
    const e = i * E_STRIDE;
    const pl = this.pool;
    for (let k = e; k < e + E_STRIDE; k++) pl[k] = 0;
    pl[e + E_FLOW] = slot;
    pl[e + E_FIRST] = fl.first(slot);
    pl[e + E_SVC] = this.portSvc[serverPort]!;
    pl[e + E_METHOD] = method;
    fl.setAux2(slot, i + POOL_AT);
    this.inspect(p, e, null);
  }

  /** The next pool entry: the oldest one, whose flow (if still followed) is dropped. */
  private alloc(): number {
    const i = this.poolNext;
    this.poolNext = i + 1 === this.poolSize ? 0 : i + 1;
    const e = i * E_STRIDE;
    const old = this.pool[e + E_FLOW]!;
    if (old >= 0) {
      const fl = this.flows;
      if (fl.aux2(old) === i + POOL_AT && fl.first(old) === this.pool[e + E_FIRST]) fl.setAux2(old, IGNORE);
      this.droppedFlows++;
    }
    return i;
  }

  private release(slot: number, e: number): void {
    this.pool[e + E_FLOW] = -1;
    this.flows.setAux2(slot, IGNORE);
  }

  private inspect(p: Packet, e: number, out: NoticeQueue | null): void {
    const m = this.pool[e + E_METHOD]!;
    const b = p.data;
    const o = p.payOff;
    // The captured bytes only (a snapped packet's payload is shorter than its header says).
    const n = Math.min(p.payLen, p.off + p.caplen - o);
    if (n <= 0) return;
    const fromServer = p.flowDir === 1;
    let r = 0;
    if (m === M_SSH) r = this.ssh(e, b, o, n, fromServer);
    else if (m === M_LINE) r = this.line(e, b, o, n, fromServer);
    else if (fromServer) r = this.binaryReply(e, m, b, o, n);
    else if (m === M_VNC) {
      // The client's 16-byte answer to the VNC challenge: the server's next 4 bytes are the result.
      if (n === 16) this.pool[e + E_BITS] = this.pool[e + E_BITS]! | B_PENDING;
    }
    if (r === 0) return;
    if (r < 0) {
      // Not the service's protocol (an SSH port carrying something else): nothing more to read.
      this.release(p.flowSlot, e);
      return;
    }
    if (r === 2) {
      this.pool[e + E_BITS] = this.pool[e + E_BITS]! | B_SUCCESS;
      this.record(p, e, 0, 1, false, out);
      return;
    }
    if (m === M_SSH) {
      // Counted at the connection's close, once it is known that no session followed.
      if (this.pool[e + E_FAILS]! < SSH_MAX_TRIES) this.pool[e + E_FAILS]++;
      return;
    }
    this.pool[e + E_FAILS]++;
    this.record(p, e, 1, 0, this.pool[e + E_FAILS] === 1, out);
  }

  /**
   * SSH: the client's and the server's NEWKEYS, then the server's encrypted replies once the
   * client sent encrypted data (Zeek's SSH_Analyzer::ProcessEncrypted). 1: a failed attempt, 2: a
   * success, -1: not SSH (each side's first bytes must be its identification string).
   */
  private ssh(e: number, b: Uint8Array, o: number, n: number, fromServer: boolean): number {
    const pl = this.pool;
    let bits = pl[e + E_BITS]!;
    const end = o + n;
    const banner = fromServer ? B_S_BANNER : B_C_BANNER;
    if ((bits & banner) === 0) {
      // RFC 4253 4.2 lets a server send other lines first; no SSH server in use does, so a side
      // whose first bytes are not its identification is not SSH.
      if (!startsWith(b, o, n, 'SSH-')) return -1;
      pl[e + E_BITS] = bits |= banner;
    }
    if (!fromServer) {
      if ((bits & B_C_ENC) === 0) {
        const at = newKeysEnd(b, o, end);
        if (at < 0) return 0;
        bits |= B_C_ENC;
        if (at < end) bits |= B_C_DATA;
      } else bits |= B_C_DATA;
      pl[e + E_BITS] = bits;
      return 0;
    }
    let len = n;
    if ((bits & B_S_ENC) === 0) {
      const at = newKeysEnd(b, o, end);
      if (at < 0) return 0;
      pl[e + E_BITS] = bits |= B_S_ENC;
      len = end - at;
      if (len <= 0) return 0;
    }
    if ((bits & B_C_DATA) === 0) return 0;
    const s = pl[e + E_S]!;
    if (s === 0) {
      pl[e + E_S] = len;
      return 0;
    }
    const f = pl[e + E_F]!;
    if (f === 0 && len + 16 === s) {
      pl[e + E_BITS] = bits | B_DONE;
      return 2;
    }
    if (f === 0) {
      if ((bits & B_SKIPPED) === 0 && len - s > 256) pl[e + E_BITS] = bits | B_SKIPPED;
      // The first failure answers the client's "none" request (the methods it may use): not a guess.
      else pl[e + E_F] = len;
      return 0;
    }
    if (len === f) return 1;
    if (len + 16 === s) {
      pl[e + E_BITS] = bits | B_DONE;
      return 2;
    }
    if (++pl[e + E_OTHER]! > SSH_SESSION_AFTER) pl[e + E_BITS] = bits | B_DONE | B_DISCARD;
    return 0;
  }

  /** Cleartext line protocols: the login commands and their replies, line by line. */
  private line(e: number, b: Uint8Array, o: number, n: number, fromServer: boolean): number {
    const pl = this.pool;
    const svc = pl[e + E_SVC]!;
    let result = 0;
    let i = o;
    const end = o + n;
    while (i < end) {
      let j = i;
      while (j < end && b[j] !== 10) j++;
      const len = j - i;
      const r = fromServer ? this.replyLine(e, svc, b, i, len) : this.commandLine(e, svc, b, i, len);
      if (r !== 0 && result !== 1) result = r;
      i = j + 1;
    }
    return result;
  }

  private commandLine(e: number, svc: number, b: Uint8Array, i: number, len: number): number {
    const pl = this.pool;
    if (svc === SVC_FTP || svc === SVC_POP3) {
      if (startsWith(b, i, len, 'USER ')) this.username(e, b, i + 5, len - 5);
      else if (startsWith(b, i, len, 'PASS ') || startsWith(b, i, len, 'APOP ') || startsWith(b, i, len, 'AUTH ')) pl[e + E_BITS] = pl[e + E_BITS]! | B_PENDING;
    } else if (svc === SVC_IMAP) {
      const sp = indexOf(b, i, len, ' ');
      if (sp < 0) return 0;
      const rest = i + len - (sp + 1);
      if (startsWith(b, sp + 1, rest, 'LOGIN ')) {
        const u = sp + 7;
        let k = u;
        while (k < i + len && b[k] !== 32) k++;
        this.username(e, b, u, k - u);
        pl[e + E_BITS] = pl[e + E_BITS]! | B_PENDING;
      } else if (startsWith(b, sp + 1, rest, 'AUTHENTICATE ')) pl[e + E_BITS] = pl[e + E_BITS]! | B_PENDING;
    } else if (svc === SVC_SMTP) {
      if (startsWith(b, i, len, 'AUTH ')) pl[e + E_BITS] = pl[e + E_BITS]! | B_PENDING;
    } else if (svc === SVC_REDIS) {
      if (indexOf(b, i, len, 'AUTH') >= 0) pl[e + E_BITS] = pl[e + E_BITS]! | B_PENDING;
    }
    return 0;
  }

  /** A server reply line: 1 a failed login, 2 a successful one, 0 neither. */
  private replyLine(e: number, svc: number, b: Uint8Array, i: number, len: number): number {
    const pl = this.pool;
    const bits = pl[e + E_BITS]!;
    if (svc === SVC_TELNET) return indexOf(b, i, len, 'Login incorrect') >= 0 || indexOf(b, i, len, 'Login failed') >= 0 ? 1 : 0;
    if (svc === SVC_SIP) return startsWith(b, i, len, 'SIP/2.0 403') ? 1 : 0;
    if ((bits & B_PENDING) === 0) return 0;
    let r = 0;
    if (svc === SVC_FTP) r = startsWith(b, i, len, '530') ? 1 : startsWith(b, i, len, '230') ? 2 : 0;
    else if (svc === SVC_POP3) r = startsWith(b, i, len, '-ERR') ? 1 : startsWith(b, i, len, '+OK') ? 2 : 0;
    else if (svc === SVC_SMTP) r = startsWith(b, i, len, '535') ? 1 : startsWith(b, i, len, '235') ? 2 : 0;
    else if (svc === SVC_REDIS) r = startsWith(b, i, len, '-WRONGPASS') || startsWith(b, i, len, '-ERR invalid') ? 1 : startsWith(b, i, len, '+OK') ? 2 : 0;
    else if (svc === SVC_IMAP && b[i] !== 42) {
      // A tagged reply (untagged ones start with '*').
      const sp = indexOf(b, i, len, ' ');
      if (sp >= 0) r = startsWith(b, sp + 1, i + len - sp - 1, 'NO') ? 1 : startsWith(b, sp + 1, i + len - sp - 1, 'OK') ? 2 : 0;
    }
    if (r !== 0) pl[e + E_BITS] = bits & ~B_PENDING;
    return r;
  }

  /** Binary protocols' failure replies: MySQL ERR 1045, PostgreSQL 28P01, MSSQL 18456, VNC's result. */
  private binaryReply(e: number, m: number, b: Uint8Array, o: number, n: number): number {
    if (m === M_MYSQL) return n >= 7 && b[o + 4] === 0xff && b[o + 5] === 0x15 && b[o + 6] === 0x04 ? 1 : 0;
    if (m === M_PGSQL) return b[o] === 0x45 && indexOf(b, o, Math.min(n, 256), 'C28P01') >= 0 ? 1 : 0;
    if (m === M_MSSQL) {
      // A TDS ERROR token (0xAA, length, number) with number 18456: login failed.
      for (let i = o, end = o + Math.min(n, 512) - 7; i <= end; i++) if (b[i] === 0xaa && b[i + 3] === 0x18 && b[i + 4] === 0x48 && b[i + 5] === 0 && b[i + 6] === 0) return 1;
      return 0;
    }
    if (m === M_VNC) {
      const pl = this.pool;
      if ((pl[e + E_BITS]! & B_PENDING) === 0 || n < 4) return 0;
      pl[e + E_BITS] = pl[e + E_BITS]! & ~B_PENDING;
      if (b[o] !== 0 || b[o + 1] !== 0 || b[o + 2] !== 0) return 0;
      return b[o + 3] === 1 ? 1 : b[o + 3] === 0 ? 2 : 0;
    }
    return 0;
  }

  /** Keeps the username given in this flow (at most UNAME bytes, printable ASCII). */
  private username(e: number, b: Uint8Array, at: number, n: number): void {
    let len = 0;
    const u = (e / E_STRIDE) * UNAME;
    for (let k = 0; k < n && len < UNAME; k++) {
      const c = b[at + k]!;
      if (c === 13 || c === 10) break;
      this.poolUser[u + len++] = c >= 32 && c < 127 ? c : 63;
    }
    this.pool[e + E_ULEN] = len;
  }

  /** The (source, service) record of the packet's client: its slot, its window restarted as needed. */
  private sourceRecord(p: Packet, svc: number): number {
    const t = this.t;
    const k = t.key;
    const client = p.flowDir === 0;
    k[0] = client ? p.src0 : p.dst0;
    k[1] = client ? p.src1 : p.dst1;
    k[2] = client ? p.src2 : p.dst2;
    k[3] = client ? p.src3 : p.dst3;
    k[4] = svc;
    const s = t.get();
    if (t.restartWindow(s, this.cfg.window)) {
      const v = t.vals;
      const b = t.valBase(s);
      v[b + R_CMIN] = Infinity;
      v[b + R_SMIN] = Infinity;
    }
    const v = t.vals;
    const b = t.valBase(s);
    v[b + R_DST] = client ? p.dst0 : p.src0;
    v[b + R_DST + 1] = client ? p.dst1 : p.src1;
    v[b + R_DST + 2] = client ? p.dst2 : p.src2;
    v[b + R_DST + 3] = client ? p.dst3 : p.src3;
    v[b + R_DPORT] = client ? p.dport : p.sport;
    v[b + R_PROTO] = p.ipProto;
    v[b + R_LAST] = this.clock.now;
    return s;
  }

  /**
   * Counts login outcomes for the flow's client (`session`: the flow's first failures, a new
   * failed session); a notice once failures reach the threshold.
   */
  private record(p: Packet, e: number, fails: number, succ: number, session: boolean, out: NoticeQueue | null): void {
    const svc = this.pool[e + E_SVC]!;
    const s = this.sourceRecord(p, svc);
    const t = this.t;
    const v = t.vals;
    const b = t.valBase(s);
    v[b + R_FAILS] += fails;
    v[b + R_SUCC] += succ;
    if (fails > 0) {
      if (session) v[b + R_SESS]++;
      this.keepUsername(s, e);
    }
    if (out !== null && v[b + R_FIRED] === 0 && v[b + R_FAILS]! >= this.cfg.failures) this.fire(s, svc, this.pool[e + E_METHOD]!, out);
  }

  private keepUsername(s: number, e: number): void {
    const n = this.pool[e + E_ULEN]!;
    if (n === 0) return;
    const v = this.t.vals;
    const b = this.t.valBase(s);
    const have = v[b + R_NUSER]!;
    const u = (e / E_STRIDE) * UNAME;
    for (let k = 0; k < have; k++) {
      const at = (s * USERS + k) * UNAME;
      if (this.userLen[s * USERS + k] !== n) continue;
      let same = true;
      for (let c = 0; c < n && same; c++) same = this.users[at + c] === this.poolUser[u + c];
      if (same) return;
    }
    if (have >= USERS) return;
    this.users.set(this.poolUser.subarray(u, u + n), (s * USERS + have) * UNAME);
    this.userLen[s * USERS + have] = n;
    v[b + R_NUSER] = have + 1;
  }

  /** The flow's end: the session's sizes, and for shape-judged services, the session itself. */
  private close(p: Packet, slot: number, a: number, out: NoticeQueue): void {
    const fl = this.flows;
    const pl = this.pool;
    const shape = a === SHAPE;
    const e = (a - POOL_AT) * E_STRIDE;
    const svc = shape ? this.portSvc[p.flowDir === 0 ? p.dport : p.sport]! : pl[e + E_SVC]!;
    const cb = fl.payload(slot, 0);
    const sb = fl.payload(slot, 1);
    let counted = !shape && pl[e + E_FAILS]! > 0;
    if (counted && pl[e + E_METHOD] === M_SSH) {
      // An SSH connection's failures, now that it ended without going on to a session.
      if ((pl[e + E_BITS]! & B_DISCARD) !== 0) counted = false;
      else this.record(p, e, pl[e + E_FAILS]!, 0, true, out);
    }
    if (shape) {
      // A completed handshake, data both ways, short and small: a login attempt's shape.
      const done = (fl.tcpFlags(slot, 1) & (TCP.SYN | TCP.ACK)) === (TCP.SYN | TCP.ACK) && fl.pkts(slot, 0) >= 2;
      const cfg = this.cfg;
      counted = done && cb > 0 && sb > 0 && cb <= cfg.session_bytes && sb <= cfg.session_bytes && this.clock.now - fl.first(slot) <= cfg.session_time;
    }
    if (shape) fl.setAux2(slot, IGNORE);
    else this.release(slot, e);
    if (!counted) return;
    const s = this.sourceRecord(p, svc);
    const v = this.t.vals;
    const b = this.t.valBase(s);
    v[b + R_CMIN] = Math.min(v[b + R_CMIN]!, cb);
    v[b + R_CMAX] = Math.max(v[b + R_CMAX]!, cb);
    v[b + R_SMIN] = Math.min(v[b + R_SMIN]!, sb);
    v[b + R_SMAX] = Math.max(v[b + R_SMAX]!, sb);
    if (!shape) return;
    v[b + R_SESS]++;
    // Similar sessions: the largest server side at most one and a half times the smallest.
    if (v[b + R_FIRED] === 0 && v[b + R_SESS]! >= this.cfg.sessions && v[b + R_SMAX]! <= 1.5 * v[b + R_SMIN]!) this.fire(s, svc, M_SHAPE, out);
  }

  private fire(s: number, svc: number, method: number, out: NoticeQueue): void {
    const t = this.t;
    const v = t.vals;
    const b = t.valBase(s);
    v[b + R_FIRED] = 1;
    this.fired++;
    const service = SERVICES[svc - 1]!;
    const now = this.clock.now;
    const sec = Math.floor(now);
    const v4 = t.keyWord(s, 0) === 0 && t.keyWord(s, 1) === 0 && t.keyWord(s, 2) === 0xffff;
    const src = new IpAddr(!v4, t.keyWord(s, 0), t.keyWord(s, 1), t.keyWord(s, 2), t.keyWord(s, 3));
    const dst = new IpAddr(!v4, v[b + R_DST]!, v[b + R_DST + 1]!, v[b + R_DST + 2]!, v[b + R_DST + 3]!);
    const users: string[] = [];
    for (let k = 0; k < v[b + R_NUSER]!; k++) {
      const at = (s * USERS + k) * UNAME;
      users.push(Buffer.from(this.users.subarray(at, at + this.userLen[s * USERS + k]!)).toString('latin1'));
    }
    const fails = v[b + R_FAILS]!;
    const sessions = v[b + R_SESS]!;
    const shape = method === M_SHAPE;
    const what = shape ? `${sessions} short ${service} sessions` : `${fails} failed ${service} logins`;
    out.push({
      kind: 'bruteforce',
      detector: this.name,
      tsSec: sec,
      tsNsec: Math.min(999999999, Math.round((now - sec) * 1e9)),
      src,
      dst,
      srcPort: 0,
      dstPort: v[b + R_DPORT]!,
      proto: v[b + R_PROTO]!,
      severity: 2,
      signatureId: SIG_BRUTEFORCE_BASE + svc,
      signature: `PALISADE brute force: ${what} from one source`,
      category: 'Attempted User Privilege Gain',
      evidence: {
        view: 'packets',
        service,
        method: METHOD_NAME[method],
        attempts: fails + v[b + R_SUCC]!,
        failures: fails,
        successes: v[b + R_SUCC],
        sessions,
        usernames: users,
        session_bytes: v[b + R_CMAX]! > 0 ? { client: [v[b + R_CMIN], v[b + R_CMAX]], server: [v[b + R_SMIN], v[b + R_SMAX]] } : null,
        threshold: shape ? this.cfg.sessions : this.cfg.failures,
        window: this.cfg.window,
        first_seen: v[b + R_START],
        last_seen: v[b + R_LAST],
      },
    });
  }

  onTick(now: number): void {
    this.t.expire(now - this.cfg.window);
  }

  onFinish(): void {}

  stats(): DetectorStats {
    return {
      tracked: this.t.size,
      memuse: this.t.memoryBytes + this.users.byteLength + this.userLen.byteLength + this.pool.byteLength + this.poolUser.byteLength,
      evicted: this.t.evicted,
      fired: this.fired,
      flows_dropped: this.droppedFlows,
    };
  }

  clear(): void {
    this.t.clear();
    for (let i = 0; i < this.poolSize; i++) this.pool[i * E_STRIDE + E_FLOW] = -1;
  }
}

export const bruteforceFactory: DetectorFactory<BruteforceConfig> = {
  name: 'bruteforce',
  description: 'password guessing per (source, service): SSH reply sizes, cleartext failure replies, short-session shape',
  needsFlows: true,
  create: (cfg, env) => new BruteforceDetector(cfg, env),
};
