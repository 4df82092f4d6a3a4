// The host's own facts for anti-lockout (decide/protect.ts): its addresses (from the kernel's
// local routes and IPv6 address list, so an interface that is down or has no carrier still
// counts), its default gateways (IPv4 and IPv6, from /proc/net/route and /proc/net/ipv6_route)
// the client of the SSH session Palisade was started from (SSH_CONNECTION), and the peers of
// every SSH session to the local sshd (its listening sockets found through /proc/*/fd, their
// established connections in /proc/net/tcp and tcp6), which systemd and sudo never hide. Read
// at start and refreshed periodically.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { endianness, networkInterfaces } from 'node:os';
import { IpAddr } from '../core/addr.js';
import { defaultRoutesV4, defaultRoutesV6 } from '../capture/interfaces.js';
import type { HostFacts } from '../decide/protect.js';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Local IPv4 addresses in /proc/net/fib_trie text: the leaves marked "/32 host LOCAL". */
export function localV4(text: string): IpAddr[] {
  const out = new Map<string, IpAddr>();
  let last: string | null = null;
  for (const line of text.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line.trimEnd());
    if (leaf) last = leaf[1]!;
    else if (last && /\/32 host LOCAL/.test(line)) {
      const a = IpAddr.parse(last);
      if (a) out.set(last, a);
    }
  }
  return [...out.values()];
}

/** IPv6 addresses in /proc/net/if_inet6 text (32 hex digits first on each line). */
export function localV6(text: string): IpAddr[] {
  const out: IpAddr[] = [];
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]{32})\s/.exec(line)?.[1];
    if (!h) continue;
    const w = (i: number): number => parseInt(h.slice(i * 8, i * 8 + 8), 16);
    out.push(new IpAddr(true, w(0), w(1), w(2), w(3)));
  }
  return out;
}

/** The SSH client's address from SSH_CONNECTION ("client port server port"), or null. */
export function sshClient(env: NodeJS.ProcessEnv = process.env): IpAddr | null {
  const v = env.SSH_CONNECTION ?? env.SSH_CLIENT;
  if (!v) return null;
  const first = v.trim().split(/\s+/)[0] ?? '';
  return IpAddr.parse(first.replace(/%.*$/, ''));
}

/** One socket of /proc/net/tcp or tcp6. IPv4-mapped IPv6 addresses come out as IPv4. */
export interface TcpSocket {
  local: IpAddr;
  localPort: number;
  remote: IpAddr;
  remotePort: number;
  /** The kernel's TCP state: 0x01 ESTABLISHED, 0x0A LISTEN, ... */
  state: number;
  inode: number;
}

export const TCP_ESTABLISHED = 0x01;
export const TCP_LISTEN = 0x0a;

const LE = endianness() === 'LE';

/** A 32-bit group as the kernel prints it (%08X of the word in host order), in network order. */
function word(hex: string, littleEndian: boolean): number {
  const x = parseInt(hex, 16) >>> 0;
  return littleEndian ? (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0 : x;
}

/** An address of /proc/net/tcp (8 hex digits) or tcp6 (32: four host-order words). */
function procAddr(hex: string, littleEndian: boolean): IpAddr {
  if (hex.length === 8) return IpAddr.v4(word(hex, littleEndian));
  const w = [0, 1, 2, 3].map((i) => word(hex.slice(i * 8, i * 8 + 8), littleEndian));
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return IpAddr.v4(w[3]!);
  return new IpAddr(true, w[0]!, w[1]!, w[2]!, w[3]!);
}

/** The sockets in /proc/net/tcp or /proc/net/tcp6 text; the header and odd lines are skipped. */
export function parseProcNetTcp(text: string, littleEndian = LE): TcpSocket[] {
  const out: TcpSocket[] = [];
  const re = /^\s*\d+:\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s+\S+\s+\S+\s+\S+\s+\d+\s+\d+\s+(\d+)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      local: procAddr(m[1]!, littleEndian),
      localPort: parseInt(m[2]!, 16),
      remote: procAddr(m[3]!, littleEndian),
      remotePort: parseInt(m[4]!, 16),
      state: parseInt(m[5]!, 16),
      inode: Number(m[6]),
    });
  }
  return out;
}

/** A process as far as sshd detection needs: its comm, its command line and its fd symlink targets. */
export interface ProcFds {
  comm: string;
  /** /proc/PID/cmdline with NULs as spaces; sshd rewrites it to show a session's state. */
  cmdline?: string;
  links: readonly string[];
}

/** sshd, or OpenSSH 9.8's per-connection `sshd-session` (a retitled process keeps the prefix). */
const isSshd = (comm: string): boolean => comm.trim().startsWith('sshd');

/**
 * An authenticated session's process: sshd retitles it `sshd: user@pts/0` or `sshd: user@notty`
 * once the user has logged in; before that it is `sshd: [accepted]`, `sshd: user [priv]`,
 * `sshd: user [net]` or `sshd: unknown [preauth]`.
 */
const isSession = (cmdline: string): boolean => /^sshd(?:-session)?: \S+@\S+/.test(cmdline.trim());

function socketInodes(procs: Iterable<ProcFds>, keep: (p: ProcFds) => boolean): Set<number> {
  const out = new Set<number>();
  for (const p of procs) {
    if (!keep(p)) continue;
    for (const l of p.links) {
      const m = /^socket:\[(\d+)\]$/.exec(l);
      if (m) out.add(Number(m[1]));
    }
  }
  return out;
}

/** The socket inodes (`socket:[N]` fd links) held by sshd's processes. */
export function sshdInodes(procs: Iterable<ProcFds>): Set<number> {
  return socketInodes(procs, (p) => isSshd(p.comm));
}

/** The socket inodes held by sshd's authenticated sessions (a logged-in user's process). */
export function sessionInodes(procs: Iterable<ProcFds>): Set<number> {
  return socketInodes(procs, (p) => isSshd(p.comm) && isSession(p.cmdline ?? ''));
}

/** The ports of `Port` lines in sshd_config text (comments ignored); empty when there are none. */
export function sshdConfigPorts(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*port\s+(\d{1,5})\s*(?:#.*)?$/i.exec(line);
    const n = m ? Number(m[1]) : 0;
    if (n > 0 && n < 65536) out.push(n);
  }
  return out;
}

/** A listening address of sshd; `addr` null: any address (0.0.0.0, ::, or a configured port). */
export interface Listener {
  addr: IpAddr | null;
  port: number;
}

const unspecified = (a: IpAddr): boolean => (a.v6 ? a.w0 === 0 && a.w1 === 0 && a.w2 === 0 : true) && a.w3 === 0;

/** sshd's listeners: the LISTEN sockets among `sockets` whose inode sshd holds. */
export function sshdListeners(sockets: readonly TcpSocket[], inodes: ReadonlySet<number>): Listener[] {
  return sockets.filter((s) => s.state === TCP_LISTEN && inodes.has(s.inode)).map((s) => ({ addr: unspecified(s.local) ? null : s.local, port: s.localPort }));
}

/**
 * The SSH peers among `sockets`: the remote address of every established connection to one of
 * sshd's `listeners` (same port, and same address unless the listener takes any), or whose
 * socket sshd holds itself (sshd -i under socket activation, where systemd holds the listener).
 * With `sessions` (sshd's processes could be read), only connections an authenticated session
 * holds count: a password guesser's open connection is not protected. Without it (/proc could
 * not be read), every connection to a listener counts, so the operator is never locked out.
 */
export function sshPeersOf(sockets: readonly TcpSocket[], listeners: readonly Listener[], inodes: ReadonlySet<number>, sessions: ReadonlySet<number> | null = null): IpAddr[] {
  const out = new Map<string, IpAddr>();
  for (const s of sockets) {
    if (s.state !== TCP_ESTABLISHED) continue;
    if (!inodes.has(s.inode) && !listeners.some((l) => l.port === s.localPort && (l.addr === null || l.addr.equals(s.local)))) continue;
    if (sessions !== null && !sessions.has(s.inode)) continue;
    out.set(s.remote.toString(), s.remote);
  }
  return [...out.values()];
}

/**
 * sshd's processes' fds from /proc: the fd links of every process whose comm is `sshd`, and
 * whether they could be read (null when not: no sshd found, or its fds unreadable without root
 * while /proc/1/fd is unreadable too, so the walk cannot be trusted).
 */
function sshdProcesses(): ProcFds[] | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const procs: ProcFds[] = [];
  let denied = false;
  for (const pid of pids) {
    const comm = readText(`/proc/${pid}/comm`);
    if (!isSshd(comm)) continue;
    try {
      const links: string[] = [];
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          links.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
        } catch {
          // closed meanwhile
        }
      }
      procs.push({ comm, cmdline: readText(`/proc/${pid}/cmdline`).replace(/\0/g, ' '), links });
    } catch {
      denied = true;
    }
  }
  if (procs.length > 0) return procs;
  if (denied) return null;
  // No sshd seen: trust that only if other processes' fds are readable at all.
  try {
    readdirSync('/proc/1/fd');
    return procs;
  } catch {
    return null;
  }
}

/**
 * The peers of SSH sessions to the local sshd, in this network namespace. sshd's listening
 * ports come from its sockets (LISTEN, held by a process whose comm is `sshd`); when /proc does
 * not show them (not root), from `Port` lines in /etc/ssh/sshd_config, else port 22. Costs a
 * /proc scan (comm of every process, fds of sshd's only) and the kernel's walk of its TCP
 * tables for /proc/net/tcp*, which dominates (tens of ms on a busy machine, even when idle).
 */
export function sshPeers(): IpAddr[] {
  return peersIn(readText('/proc/net/tcp'), readText('/proc/net/tcp6'));
}

/** `sshPeers()` reading /proc/net/tcp* off the event loop, for a frequent refresh. */
export async function sshPeersAsync(): Promise<IpAddr[]> {
  const read = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');
  const [v4, v6] = await Promise.all([read('/proc/net/tcp'), read('/proc/net/tcp6')]);
  return peersIn(v4, v6);
}

function peersIn(tcp: string, tcp6: string): IpAddr[] {
  const sockets = [...parseProcNetTcp(tcp), ...parseProcNetTcp(tcp6)];
  const procs = sshdProcesses();
  const inodes = procs === null ? new Set<number>() : sshdInodes(procs);
  let listeners: Listener[];
  if (procs === null) {
    const configured = sshdConfigPorts(readText('/etc/ssh/sshd_config'));
    listeners = (configured.length > 0 ? configured : [22]).map((port) => ({ addr: null, port }));
  } else listeners = sshdListeners(sockets, inodes);
  return sshPeersOf(sockets, listeners, inodes, procs === null ? null : sessionInodes(procs));
}

export function hostFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  const found = new Map<string, IpAddr>();
  const add = (a: IpAddr): void => void found.set(a.toString(), a);
  localV4(readText('/proc/net/fib_trie')).forEach(add);
  localV6(readText('/proc/net/if_inet6')).forEach(add);
  // What libuv sees too (it lists only interfaces that are up and running).
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = IpAddr.parse(a.address.replace(/%.*$/, ''));
      if (ip) add(ip);
    }
  }
  const addresses = [...found.values()];
  const gateways: IpAddr[] = [];
  for (const r of [...defaultRoutesV4(readText('/proc/net/route')), ...defaultRoutesV6(readText('/proc/net/ipv6_route'))]) {
    const g = r.gateway === null ? null : IpAddr.parse(r.gateway);
    if (g) gateways.push(g);
  }
  return { addresses, gateways, sshClient: sshClient(env), sshPeers: sshPeers() };
}
