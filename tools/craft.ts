// Packet crafting for tests and benchmarks: layer builders (Ethernet/VLAN, SLL, SLL2, BSD null,
// ARP, IPv4, IPv6 with extension headers, TCP with options, UDP, ICMP, ICMPv6) and capture
// writers (pcap in either byte order with micro- or nanosecond stamps; pcapng with several
// interfaces, if_tsresol, EPB, SPB and ISB). Everything Palisade replays in its tests is made here.

export const MAC_A = Buffer.from('020000000001', 'hex');
export const MAC_B = Buffer.from('020000000002', 'hex');

/** IPv4 text to a 32-bit number. */
export function ip4(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** IPv6 text (full or :: form) to 16 bytes. */
export function ip6(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':').filter((x) => x !== '') : [];
  const t = tail !== undefined ? tail.split(':').filter((x) => x !== '') : [];
  const groups = tail !== undefined ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export function checksum(b: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export const F = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 } as const;

export interface TcpOpts {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
  win?: number;
  urp?: number;
  /** Raw option bytes (padded to 4 by the builder). */
  options?: Uint8Array;
  /** Override the data offset field (in bytes), e.g. to craft a malformed header. */
  dataOffset?: number;
}

export function tcp(o: TcpOpts, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const opt = o.options ? Buffer.concat([Buffer.from(o.options), Buffer.alloc((4 - (o.options.length % 4)) % 4)]) : Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  h[12] = ((o.dataOffset ?? 20 + opt.length) >> 2) << 4;
  h[13] = o.flags;
  h.writeUInt16BE(o.win ?? 64240, 14);
  h.writeUInt16BE(o.urp ?? 0, 18);
  return Buffer.concat([h, opt, Buffer.from(payload)]);
}

/** TCP options: MSS, SACK-permitted, timestamps, NOP, window scale (a Linux SYN). */
export function linuxSynOptions(tsval = 12345): Buffer {
  const b = Buffer.alloc(20);
  b.set([2, 4, 0x05, 0xb4, 4, 2, 8, 10], 0);
  b.writeUInt32BE(tsval, 8);
  b.writeUInt32BE(0, 12);
  b.set([1, 3, 3, 7], 16);
  return b;
}

export function udp(sport: number, dport: number, payload: Uint8Array = Buffer.alloc(0), lengthOverride?: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(lengthOverride ?? 8 + payload.length, 4);
  return Buffer.concat([h, Buffer.from(payload)]);
}

export function icmp(type: number, code: number, rest: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  h.writeUInt32BE(rest >>> 0, 4);
  const b = Buffer.concat([h, Buffer.from(payload)]);
  b.writeUInt16BE(checksum(b), 2);
  return b;
}

export interface Ip4Opts {
  src: number | string;
  dst: number | string;
  proto: number;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (multiple of 8). */
  fragOff?: number;
  tos?: number;
  options?: Uint8Array;
  /** Overrides for crafting malformed headers. */
  ihl?: number;
  totalLength?: number;
  version?: number;
}

export function ipv4(o: Ip4Opts, payload: Uint8Array): Buffer {
  const opt = o.options ? Buffer.concat([Buffer.from(o.options), Buffer.alloc((4 - (o.options.length % 4)) % 4)]) : Buffer.alloc(0);
  const hl = 20 + opt.length;
  const h = Buffer.alloc(hl);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? hl >> 2);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(o.totalLength ?? hl + payload.length, 2);
  h.writeUInt16BE(o.id ?? 1, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOff ?? 0) >> 3), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  h.writeUInt32BE(typeof o.src === 'string' ? ip4(o.src) : o.src, 12);
  h.writeUInt32BE(typeof o.dst === 'string' ? ip4(o.dst) : o.dst, 16);
  opt.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, Buffer.from(payload)]);
}

/** An IPv6 extension header: next-header is filled in by ipv6(). `body` excludes the first 2 bytes. */
export interface Ext6 {
  type: number;
  body: Uint8Array;
}

export function ipv6(
  o: { src: string | Uint8Array; dst: string | Uint8Array; nh: number; hlim?: number; ext?: Ext6[]; payloadLength?: number },
  payload: Uint8Array,
): Buffer {
  const exts = o.ext ?? [];
  const parts: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i]!;
    const next = i + 1 < exts.length ? exts[i + 1]!.type : o.nh;
    const len = 2 + e.body.length;
    const h = Buffer.alloc(len);
    h[0] = next;
    h[1] = e.type === 44 ? 0 : e.type === 51 ? (len >> 2) - 2 : (len >> 3) - 1;
    Buffer.from(e.body).copy(h, 2);
    parts.push(h);
  }
  const body = Buffer.concat([...parts, Buffer.from(payload)]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.payloadLength ?? body.length, 4);
  h[6] = exts.length ? exts[0]!.type : o.nh;
  h[7] = o.hlim ?? 64;
  (typeof o.src === 'string' ? ip6(o.src) : Buffer.from(o.src)).copy(h, 8);
  (typeof o.dst === 'string' ? ip6(o.dst) : Buffer.from(o.dst)).copy(h, 24);
  return Buffer.concat([h, body]);
}

/** Fragment extension header body (6 bytes after next-header and reserved). */
export function frag6(offset: number, more: boolean, id = 1): Ext6 {
  const b = Buffer.alloc(6);
  b.writeUInt16BE((offset & 0xfff8) | (more ? 1 : 0), 0);
  b.writeUInt32BE(id, 2);
  return { type: 44, body: b };
}

/** A padded 8-byte options header (hop-by-hop 0, destination options 60, routing 43...). */
export function ext8(type: number, extra = 0): Ext6 {
  return { type, body: Buffer.alloc(6 + extra * 8) };
}

export function eth(type: number, payload: Uint8Array, vlans: number[] = [], dst = MAC_B, src = MAC_A): Buffer {
  // The outer tag of a stack is 802.1ad (0x88a8), inner ones 802.1Q; each tag carries the next type.
  const types = [...vlans.map((_, i) => (i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100)), type];
  const out: Buffer[] = [dst, src];
  const first = Buffer.alloc(2);
  first.writeUInt16BE(types[0]!, 0);
  out.push(first);
  vlans.forEach((vid, i) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(vid, 0);
    t.writeUInt16BE(types[i + 1]!, 2);
    out.push(t);
  });
  return Buffer.concat([...out, Buffer.from(payload)]);
}

export function arp(op: number, spa: string, tpa: string): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  MAC_A.copy(b, 8);
  b.writeUInt32BE(ip4(spa), 14);
  b.writeUInt32BE(ip4(tpa), 24);
  return b;
}

export function sll(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // to us
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  MAC_A.copy(h, 6);
  h.writeUInt16BE(type, 14);
  return Buffer.concat([h, Buffer.from(payload)]);
}

export function sll2(type: number, payload: Uint8Array, ifindex = 2): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt32BE(ifindex, 4);
  h.writeUInt16BE(1, 8);
  h[10] = 0;
  h[11] = 6;
  MAC_A.copy(h, 12);
  return Buffer.concat([h, Buffer.from(payload)]);
}

/** BSD loopback: the address family in little-endian (NULL) or network order (LOOP). */
export function nullLink(af: number, payload: Uint8Array, networkOrder = false): Buffer {
  const h = Buffer.alloc(4);
  if (networkOrder) h.writeUInt32BE(af, 0);
  else h.writeUInt32LE(af, 0);
  return Buffer.concat([h, Buffer.from(payload)]);
}

export interface Rec {
  /** Seconds since the epoch (fractional allowed) or [sec, nsec]. */
  t: number | [number, number];
  data: Uint8Array;
  /** Wire length when larger than data (snaplen cut). */
  wirelen?: number;
  /** pcapng interface id. */
  iface?: number;
}

function secNsec(t: Rec['t']): [number, number] {
  if (Array.isArray(t)) return t;
  const s = Math.floor(t);
  return [s, Math.round((t - s) * 1e9)];
}

/** A classic pcap file. */
export function pcapFile(linktype: number, recs: Rec[], o: { nanos?: boolean; bigEndian?: boolean; snaplen?: number } = {}): Buffer {
  const le = !o.bigEndian;
  const w32 = (b: Buffer, v: number, off: number) => (le ? b.writeUInt32LE(v >>> 0, off) : b.writeUInt32BE(v >>> 0, off));
  const w16 = (b: Buffer, v: number, off: number) => (le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  const hdr = Buffer.alloc(24);
  w32(hdr, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(hdr, 2, 4);
  w16(hdr, 4, 6);
  w32(hdr, o.snaplen ?? 262144, 16);
  w32(hdr, linktype, 20);
  const parts = [hdr];
  for (const r of recs) {
    const [s, ns] = secNsec(r.t);
    const h = Buffer.alloc(16);
    w32(h, s, 0);
    w32(h, o.nanos ? ns : Math.floor(ns / 1000), 4);
    w32(h, r.data.length, 8);
    w32(h, r.wirelen ?? r.data.length, 12);
    parts.push(h, Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b;
}

function block(type: number, body: Buffer, le: boolean): Buffer {
  const b = pad4(body);
  const len = b.length + 12;
  const h = Buffer.alloc(8);
  const t = Buffer.alloc(4);
  if (le) {
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(len, 4);
    t.writeUInt32LE(len, 0);
  } else {
    h.writeUInt32BE(type, 0);
    h.writeUInt32BE(len, 4);
    t.writeUInt32BE(len, 0);
  }
  return Buffer.concat([h, b, t]);
}

export interface NgIface {
  linktype: number;
  snaplen?: number;
  /** if_tsresol byte: 6 = microseconds (default), 9 = nanoseconds, 0x80|n = 2^-n. */
  tsresol?: number;
  /** if_tsoffset seconds. */
  tsoffset?: number;
}

/** A pcapng file with one section; `spb` packets go out as simple packet blocks (interface 0). */
export function pcapngFile(
  ifaces: NgIface[],
  recs: (Rec & { spb?: boolean })[],
  o: { bigEndian?: boolean; isb?: { iface: number; ifdrop: number; osdrop: number }[] } = {},
): Buffer {
  const le = !o.bigEndian;
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v, 0);
    else b.writeUInt16BE(v, 0);
    return b;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v >>> 0, 0);
    else b.writeUInt32BE(v >>> 0, 0);
    return b;
  };
  const u64 = (v: number) => (le ? Buffer.concat([u32(v % 4294967296), u32(Math.floor(v / 4294967296))]) : Buffer.concat([u32(Math.floor(v / 4294967296)), u32(v % 4294967296)]));
  const opt = (code: number, val: Buffer) => pad4(Buffer.concat([u16(code), u16(val.length), val]));
  const parts: Buffer[] = [];
  // Section header: byte-order magic, version 1.0, section length unknown (-1).
  parts.push(block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), u32(0xffffffff), u32(0xffffffff)]), le));
  for (const i of ifaces) {
    const opts: Buffer[] = [];
    if (i.tsresol !== undefined) opts.push(opt(9, Buffer.from([i.tsresol])));
    if (i.tsoffset !== undefined) opts.push(opt(14, u64(i.tsoffset)));
    if (opts.length) opts.push(opt(0, Buffer.alloc(0)));
    parts.push(block(1, Buffer.concat([u16(i.linktype), u16(0), u32(i.snaplen ?? 0), ...opts]), le));
  }
  for (const r of recs) {
    if (r.spb) {
      parts.push(block(3, Buffer.concat([u32(r.wirelen ?? r.data.length), Buffer.from(r.data)]), le));
      continue;
    }
    const iface = ifaces[r.iface ?? 0]!;
    const res = iface.tsresol ?? 6;
    const units = res & 0x80 ? 2 ** (res & 0x7f) : 10 ** res;
    const [s, ns] = secNsec(r.t);
    const ts = BigInt(s - (iface.tsoffset ?? 0)) * BigInt(units) + (BigInt(ns) * BigInt(units)) / 1000000000n;
    parts.push(
      block(
        6,
        Buffer.concat([u32(r.iface ?? 0), u32(Number(ts >> 32n)), u32(Number(ts & 0xffffffffn)), u32(r.data.length), u32(r.wirelen ?? r.data.length), Buffer.from(r.data)]),
        le,
      ),
    );
  }
  for (const s of o.isb ?? []) {
    parts.push(block(5, Buffer.concat([u32(s.iface), u32(0), u32(0), opt(5, u64(s.ifdrop)), opt(7, u64(s.osdrop)), opt(0, Buffer.alloc(0))]), le));
  }
  return Buffer.concat(parts);
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
