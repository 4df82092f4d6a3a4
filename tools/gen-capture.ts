// Palisade's own benchmark capture generator: a deterministic, well-formed pcap of N packets
// with the mix of ../shared/bench/genpcap.py: ~78% IPv4 TCP sessions (handshake, 1-11 data
// segments of 0-1400 bytes, FIN teardown) between 4000 clients and 40 servers, ~10% IPv6 TCP
// sessions, ~8% DNS over UDP, ~2% ICMP echo, ~2% scans (SYN, FIN, NULL, XMAS and UDP) from 30
// scanners. Ethernet, microsecond stamps at 250k packets/s. Packets are written straight into a
// reused buffer, so tens of millions stream to a pipe in constant memory. Other mixes for the
// benchmarks: `synflood` (every packet a SYN from a random, spoofed source to one victim port)
// and `frag` (the default mix where three events in four are a datagram in IP fragments, 3,000-byte
// UDP or a 4,000-byte ping in 1,480-byte fragments: about half the packets are fragments).
//
// Usage: node dist/tools/gen-capture.js OUT|- NPACKETS [SEED] [mixed|synflood|frag]

import { closeSync, openSync, writeSync } from 'node:fs';
import { rng } from './craft.js';

const F = 1;
const S = 2;
const P = 8;
const A = 16;
const U = 32;

class Writer {
  private readonly buf = Buffer.alloc(8 << 20);
  pos = 0;
  count = 0;
  private sec = 1_700_000_000;
  private usec = 0;
  private sp = 0;

  constructor(
    private readonly fd: number,
    private readonly limit: number,
  ) {
    const b = this.buf;
    b.writeUInt32LE(0xa1b2c3d4, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeUInt32LE(65535, 16);
    b.writeUInt32LE(1, 20);
    this.pos = 24;
  }

  get done(): boolean {
    return this.count >= this.limit;
  }

  /** Starts a packet: record header and Ethernet header; returns the IP header offset. */
  begin(etherType: number): number {
    if (this.pos + 2048 > this.buf.length) this.flush();
    const b = this.buf;
    this.usec += 4;
    if (this.usec >= 1e6) {
      this.usec -= 1e6;
      this.sec++;
    }
    this.sp = this.pos;
    b.writeUInt32LE(this.sec, this.pos);
    b.writeUInt32LE(this.usec, this.pos + 4);
    const e = this.pos + 16;
    b.writeUInt32BE(0x02000000, e);
    b.writeUInt32BE(0x00010200, e + 4);
    b.writeUInt32BE(0x00000002, e + 8);
    b.writeUInt16BE(etherType, e + 12);
    return e + 14;
  }

  /** Finishes the packet that ends at `end`. */
  end(end: number): void {
    const len = end - this.sp - 16;
    this.buf.writeUInt32LE(len, this.sp + 8);
    this.buf.writeUInt32LE(len, this.sp + 12);
    this.pos = end;
    this.count++;
  }

  get b(): Buffer {
    return this.buf;
  }

  flush(): void {
    let off = 0;
    while (off < this.pos) {
      try {
        off += writeSync(this.fd, this.buf, off, this.pos - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
    this.pos = 0;
  }
}

function main(): void {
  const [out, nText, seedText, mixText] = process.argv.slice(2);
  const mix = mixText ?? 'mixed';
  if (!out || !nText || !['mixed', 'synflood', 'frag'].includes(mix)) {
    process.stderr.write('usage: gen-capture OUT|- NPACKETS [SEED] [mixed|synflood|frag]\n');
    process.exit(2);
  }
  const n = Number(nText);
  const r = rng(Number(seedText ?? 7));
  const ri = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo));
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const fd = out === '-' ? 1 : openSync(out, 'w');
  const w = new Writer(fd, n);

  const clients = Array.from({ length: 4000 }, (_, i) => (((100 << 24) | ((64 + ((i + 1) >> 16)) << 16) | (((i + 1) >> 8) & 255) << 8 | ((i + 1) & 255)) >>> 0));
  const servers = Array.from({ length: 40 }, (_, i) => ((198 << 24) | (19 << 16) | (i + 1)) >>> 0);
  const scanners = Array.from({ length: 30 }, (_, i) => ((203 << 24) | (113 << 8) | (i + 1)) >>> 0);
  const c6 = Array.from({ length: 499 }, (_, i) => [0x20010db8, 0, 0, i + 1] as const);
  const s6 = Array.from({ length: 9 }, (_, i) => [0x20010db8, 0xff000000, 0, i + 1] as const);
  const PAY = Buffer.alloc(1500);
  for (let i = 0; i < PAY.length; i++) PAY[i] = ri(0, 256);
  const ports = [80, 443, 443, 22, 8080];

  // IPv4 header at o; returns the transport offset.
  const v4 = (o: number, src: number, dst: number, proto: number, l4len: number): number => {
    const b = w.b;
    b.writeUInt32BE(0x45000000 | (20 + l4len), o);
    b.writeUInt32BE(((ri(0, 65536) << 16) | 0x4000) >>> 0, o + 4);
    b.writeUInt32BE(((64 << 24) | (proto << 16)) >>> 0, o + 8);
    b.writeUInt32BE(src, o + 12);
    b.writeUInt32BE(dst, o + 16);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += b.readUInt16BE(o + i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    b.writeUInt16BE(~s & 0xffff, o + 10);
    return o + 20;
  };
  const v6 = (o: number, src: readonly number[], dst: readonly number[], nh: number, l4len: number): number => {
    const b = w.b;
    b.writeUInt32BE(0x60000000, o);
    b.writeUInt32BE((l4len << 16) | (nh << 8) | 64, o + 4);
    for (let i = 0; i < 4; i++) {
      b.writeUInt32BE(src[i]!, o + 8 + 4 * i);
      b.writeUInt32BE(dst[i]!, o + 24 + 4 * i);
    }
    return o + 40;
  };
  const tcpAt = (o: number, sp: number, dp: number, seq: number, ack: number, flags: number, len: number, win = 64240): number => {
    const b = w.b;
    b.writeUInt16BE(sp, o);
    b.writeUInt16BE(dp, o + 2);
    b.writeUInt32BE(seq >>> 0, o + 4);
    b.writeUInt32BE(ack >>> 0, o + 8);
    b.writeUInt16BE((5 << 12) | flags, o + 12);
    b.writeUInt16BE(win, o + 14);
    b.writeUInt32BE(0, o + 16);
    PAY.copy(b, o + 20, 0, len);
    return o + 20 + len;
  };
  const tcpPkt = (six: boolean, src: number | readonly number[], dst: number | readonly number[], sp: number, dp: number, seq: number, ack: number, flags: number, len: number, win?: number): void => {
    if (w.done) return;
    const ipo = w.begin(six ? 0x86dd : 0x0800);
    const l4 = six ? v6(ipo, src as readonly number[], dst as readonly number[], 6, 20 + len) : v4(ipo, src as number, dst as number, 6, 20 + len);
    w.end(tcpAt(l4, sp, dp, seq, ack, flags, len, win));
  };
  const udpPkt = (src: number, dst: number, sp: number, dp: number, len: number): void => {
    if (w.done) return;
    const l4 = v4(w.begin(0x0800), src, dst, 17, 8 + len);
    const b = w.b;
    b.writeUInt16BE(sp, l4);
    b.writeUInt16BE(dp, l4 + 2);
    b.writeUInt16BE(8 + len, l4 + 4);
    b.writeUInt16BE(0, l4 + 6);
    PAY.copy(b, l4 + 8, 0, len);
    w.end(l4 + 8 + len);
  };
  const icmpPkt = (src: number, dst: number, type: number): void => {
    if (w.done) return;
    const l4 = v4(w.begin(0x0800), src, dst, 1, 64);
    const b = w.b;
    b.writeUInt32BE(type << 24, l4);
    b.writeUInt32BE(0x00010001, l4 + 4);
    PAY.copy(b, l4 + 8, 0, 56);
    w.end(l4 + 64);
  };
  /** A datagram of `len` transport bytes (protocol `proto`) in fragments of 1,480 bytes. */
  const fragmented = (src: number, dst: number, proto: number, len: number): void => {
    const id = ri(0, 65536);
    for (let off = 0; off < len && !w.done; off += 1480) {
      const part = Math.min(1480, len - off);
      const o = w.begin(0x0800);
      const b = w.b;
      b.writeUInt32BE(0x45000000 | (20 + part), o);
      b.writeUInt32BE(((id << 16) | (off + part < len ? 0x2000 : 0) | (off >> 3)) >>> 0, o + 4);
      b.writeUInt32BE(((64 << 24) | (proto << 16)) >>> 0, o + 8);
      b.writeUInt32BE(src, o + 12);
      b.writeUInt32BE(dst, o + 16);
      PAY.copy(b, o + 20, 0, part);
      if (off === 0) {
        if (proto === 17) {
          b.writeUInt32BE(((ri(1024, 65535) << 16) | 5000) >>> 0, o + 20);
          b.writeUInt32BE((len << 16) >>> 0, o + 24);
        } else b.writeUInt32BE(0x08000000, o + 20);
      }
      w.end(o + 20 + part);
    }
  };
  const session = (six: boolean, c: number | readonly number[], s: number | readonly number[]): void => {
    const sp = ri(32768, 61000);
    const dp = pick(ports);
    const a = ri(0, 2 ** 32);
    const bb = ri(0, 2 ** 32);
    tcpPkt(six, c, s, sp, dp, a, 0, S, 0);
    tcpPkt(six, s, c, dp, sp, bb, a + 1, S | A, 0);
    tcpPkt(six, c, s, sp, dp, a + 1, bb + 1, A, 0);
    for (let k = ri(1, 12); k > 0; k--) {
      const len = pick([0, 64, 300, 1400, 1400]);
      if (r() < 0.5) tcpPkt(six, c, s, sp, dp, a + 1, bb + 1, P | A, len);
      else tcpPkt(six, s, c, dp, sp, bb + 1, a + 1, P | A, len);
    }
    tcpPkt(six, c, s, sp, dp, a + 1, bb + 1, F | A, 0);
    tcpPkt(six, s, c, dp, sp, bb + 1, a + 2, F | A, 0);
    tcpPkt(six, c, s, sp, dp, a + 2, bb + 2, A, 0);
  };

  if (mix === 'synflood') {
    const victim = servers[0]!;
    while (!w.done) tcpPkt(false, (ri(0x01000000, 0xdf000000) | 0) >>> 0, victim, ri(1024, 65536), 80, ri(0, 2 ** 32), 0, S, 0, 1024);
  }
  while (!w.done) {
    if (mix === 'frag' && r() < 0.75) {
      const c = pick(clients);
      const s = pick(servers);
      if (r() < 0.5) fragmented(c, s, 17, 3000);
      else fragmented(c, s, 1, 4000);
      continue;
    }
    const x = r();
    if (x < 0.78) session(false, pick(clients), pick(servers));
    else if (x < 0.88) session(true, pick(c6), pick(s6));
    else if (x < 0.96) {
      const c = pick(clients);
      const s = servers[ri(0, 4)]!;
      const sp = ri(1024, 65535);
      udpPkt(c, s, sp, 53, ri(30, 60));
      udpPkt(s, c, 53, sp, ri(60, 400));
    } else if (x < 0.98) {
      const c = pick(clients);
      const s = pick(servers);
      icmpPkt(c, s, 8);
      icmpPkt(s, c, 0);
    } else {
      const sc = pick(scanners);
      const s = pick(servers);
      const fl = pick([S, S, S, F, 0, F | P | U, -1]);
      const seen = new Set<number>();
      while (seen.size < 40) seen.add(ri(1, 65536));
      for (const dp of seen) {
        if (fl < 0) udpPkt(sc, s, 40000, dp, 0);
        else tcpPkt(false, sc, s, 51234, dp, ri(0, 2 ** 32), 0, fl, 0, 1024);
      }
    }
  }
  w.flush();
  if (fd !== 1) closeSync(fd);
}

main();
