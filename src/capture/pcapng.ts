// pcapng files (draft-ietf-opsawg-pcapng): Section Header (either byte order, several sections),
// Interface Description (link type, snaplen, if_tsresol, if_tsoffset, if_fcslen), Enhanced and
// Simple Packet blocks, the obsolete Packet block, and Interface Statistics (drop counts). Other
// blocks are skipped. Streams through a ByteStream in constant memory.

import { PalisadeError } from '../core/errors.js';
import type { Packet } from '../core/packet.js';
import { HEADROOM } from './byte-stream.js';
import { MAX_TS_SEC, badTimestamp, linkCounter, type LinkCount, type RecordReader, type RecordSink } from './pcap.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;
const IDB = 1;
const PB = 2;
const SPB = 3;
const ISB = 5;
const EPB = 6;
/** Blocks larger than this are skipped without being buffered (never packet data we can use). */
const MAX_BUFFERED_BLOCK = HEADROOM;
/** A block length beyond this is treated as corruption. */
const MAX_BLOCK = 256 << 20;

/** Smallest valid length of a block of this type (header, fixed fields and trailer); shorter is corruption. */
function minLength(type: number): number {
  switch (type) {
    case EPB:
    case PB:
      return 32;
    case SPB:
      return 16;
    case IDB:
      return 20;
    case ISB:
      return 24;
    case PCAPNG_SHB:
      return 28;
    default:
      return 12;
  }
}
/** Timestamp units per second beyond this (finer than 2^-63 s) are not a resolution. */
const MAX_UNITS = 2 ** 63;

interface Iface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second (10^n or 2^n). */
  units: number;
  /** Seconds added to every timestamp (if_tsoffset). */
  offset: number;
  fcsLen: number;
  ifDrop: number;
  osDrop: number;
  recv: number;
  /** Packet counter when the decoder cannot inspect this link type. */
  counter: LinkCount | null;
}

function rd32(b: Buffer, o: number, le: boolean): number {
  return le ? b.readUInt32LE(o) : b.readUInt32BE(o);
}

function rd16(b: Buffer, o: number, le: boolean): number {
  return le ? b.readUInt16LE(o) : b.readUInt16BE(o);
}

function rd64(b: Buffer, o: number, le: boolean): number {
  const hi = le ? b.readUInt32LE(o + 4) : b.readUInt32BE(o);
  const lo = le ? b.readUInt32LE(o) : b.readUInt32BE(o + 4);
  return hi * 4294967296 + lo;
}

/** Sets the packet timestamp from a 64-bit count of `units` per second (exact up to 2^32 units/s). */
export function setTimestamp(p: Packet, hi: number, lo: number, units: number, offset: number): void {
  if (units === 1e6 && hi < 0x200000) {
    const v = hi * 4294967296 + lo;
    const sec = Math.floor(v / 1e6);
    p.tsSec = sec + offset;
    p.tsNsec = (v - sec * 1e6) * 1000;
    return;
  }
  if (units > 4294967296) {
    const v = hi * 4294967296 + lo;
    const sec = Math.floor(v / units);
    p.tsSec = sec + offset;
    p.tsNsec = Math.floor(((v - sec * units) / units) * 1e9);
    return;
  }
  // Long division of the 64-bit value by `units`, in 16-bit limbs so every step is exact.
  let cur = hi >>> 16;
  let q = Math.floor(cur / units);
  let r = cur - q * units;
  cur = r * 65536 + (hi & 0xffff);
  let d = Math.floor(cur / units);
  r = cur - d * units;
  q = q * 65536 + d;
  cur = r * 65536 + (lo >>> 16);
  d = Math.floor(cur / units);
  r = cur - d * units;
  q = q * 65536 + d;
  cur = r * 65536 + (lo & 0xffff);
  d = Math.floor(cur / units);
  r = cur - d * units;
  q = q * 65536 + d;
  p.tsSec = q + offset;
  p.tsNsec = units === 1e9 ? r : Math.floor((r * 1e9) / units);
}

/** Walks the options area [o, end) and calls `fn(code, valueOffset, length)` for each option. */
function eachOption(b: Buffer, o: number, end: number, le: boolean, fn: (code: number, v: number, len: number) => void): void {
  while (o + 4 <= end) {
    const code = rd16(b, o, le);
    const len = rd16(b, o + 2, le);
    if (code === 0) return; // opt_endofopt
    if (o + 4 + len > end) return;
    fn(code, o + 4, len);
    o += 4 + ((len + 3) & ~3);
  }
}

function parseIdb(b: Buffer, pos: number, blen: number, le: boolean, sink: RecordSink, where: string): Iface {
  const iface: Iface = {
    linktype: rd16(b, pos + 8, le),
    snaplen: rd32(b, pos + 12, le),
    units: 1e6,
    offset: 0,
    fcsLen: 0,
    ifDrop: 0,
    osDrop: 0,
    recv: 0,
    counter: null,
  };
  iface.counter = linkCounter(sink, iface.linktype);
  eachOption(b, pos + 16, pos + blen - 4, le, (code, v, len) => {
    if (code === 9 && len >= 1) {
      const r = b[v]!;
      const units = (r & 0x80) !== 0 ? 2 ** (r & 0x7f) : 10 ** (r & 0x7f);
      if (units >= 1 && units <= MAX_UNITS) iface.units = units;
      else sink.warnings.push(`${where}: if_tsresol 0x${r.toString(16)} is not a usable resolution; microseconds assumed`);
    } else if (code === 14 && len >= 8) {
      const hi = le ? b.readInt32LE(v + 4) : b.readInt32BE(v);
      const lo = le ? b.readUInt32LE(v) : b.readUInt32BE(v + 4);
      iface.offset = hi * 4294967296 + lo;
    } else if (code === 13 && len >= 1) {
      iface.fcsLen = b[v]!;
    }
  });
  return iface;
}

export const readPcapng: RecordReader = async (bs, name, sink, p, onPacket, onChunk) => {
  let le = true;
  let ifaces: Iface[] = [];
  const allIfaces: Iface[] = [];
  const corrupt = (pos: number, what: string): PalisadeError => {
    bs.pos = pos;
    return new PalisadeError(
      'PAL_ERR_CAPTURE_CORRUPT',
      `${name}: byte ${bs.offsetOf(pos)}: ${what}; the file is corrupt from here on`,
    );
  };

  for (;;) {
    const b = bs.buf;
    let pos = bs.pos;
    const end = bs.end;
    let need = 0;
    let skipBytes = 0;
    for (;;) {
      if (end - pos < 12) {
        need = 12;
        break;
      }
      let type = rd32(b, pos, le);
      if (type === PCAPNG_SHB) {
        const bom = b.readUInt32LE(pos + 8);
        if (bom === BOM) le = true;
        else if (b.readUInt32BE(pos + 8) === BOM) le = false;
        else throw corrupt(pos, 'section header with an invalid byte-order magic');
        type = PCAPNG_SHB;
      }
      const blen = rd32(b, pos + 4, le);
      const min = minLength(type);
      if (blen < min || (blen & 3) !== 0 || blen > MAX_BLOCK) {
        throw corrupt(pos, `block of type 0x${type.toString(16)} with invalid length ${blen}${blen < min ? ` (at least ${min})` : ''}`);
      }
      if (blen > MAX_BUFFERED_BLOCK) {
        if (type === EPB || type === SPB || type === PB) {
          sink.skippedRecords++;
          sink.warnings.push(`${name}: byte ${bs.offsetOf(pos)}: skipped a ${blen}-byte packet block (larger than the ${MAX_BUFFERED_BLOCK}-byte limit)`);
        }
        skipBytes = blen;
        break;
      }
      if (end - pos < blen) {
        need = blen;
        break;
      }
      if (rd32(b, pos + blen - 4, le) !== blen) {
        throw corrupt(pos, `block of type 0x${type.toString(16)}: trailing length does not match ${blen}`);
      }
      switch (type) {
        case EPB:
        case PB: {
          const ifid = type === EPB ? rd32(b, pos + 8, le) : rd16(b, pos + 8, le);
          const caplen = rd32(b, pos + 20, le);
          if (28 + caplen > blen - 4) throw corrupt(pos, `packet block claims ${caplen} captured bytes in a ${blen}-byte block`);
          const iface = ifaces[ifid];
          if (iface === undefined) {
            sink.skippedRecords++;
            if (sink.skippedRecords <= 10) sink.warnings.push(`${name}: byte ${bs.offsetOf(pos)}: packet for undeclared interface ${ifid} skipped`);
            break;
          }
          const prevSec = p.tsSec;
          const prevNsec = p.tsNsec;
          setTimestamp(p, rd32(b, pos + 12, le), rd32(b, pos + 16, le), iface.units, iface.offset);
          if (!(p.tsSec >= 0 && p.tsSec < MAX_TS_SEC && p.tsNsec >= 0 && p.tsNsec < 1e9)) {
            badTimestamp(sink, name, bs.offsetOf(pos), p.tsSec);
            p.tsSec = prevSec;
            p.tsNsec = prevNsec;
          }
          let wirelen = rd32(b, pos + 24, le);
          let cl = caplen;
          if (iface.fcsLen !== 0 && cl === wirelen && cl >= iface.fcsLen) {
            cl -= iface.fcsLen;
            wirelen -= iface.fcsLen;
          }
          p.caplen = cl;
          p.wirelen = wirelen < cl ? cl : wirelen;
          p.linktype = iface.linktype;
          p.ifIndex = ifid;
          p.data = b;
          p.off = pos + 28;
          if (iface.counter !== null) iface.counter.packets++;
          sink.packets++;
          onPacket();
          break;
        }
        case SPB: {
          const iface = ifaces[0];
          if (iface === undefined) {
            sink.skippedRecords++;
            break;
          }
          const wirelen = rd32(b, pos + 8, le);
          let caplen = Math.min(wirelen, blen - 16);
          if (iface.snaplen !== 0) caplen = Math.min(caplen, iface.snaplen);
          // A simple packet block has no timestamp: it keeps the previous packet's time.
          p.caplen = caplen;
          p.wirelen = wirelen;
          p.linktype = iface.linktype;
          p.ifIndex = 0;
          p.data = b;
          p.off = pos + 12;
          if (iface.counter !== null) iface.counter.packets++;
          sink.packets++;
          onPacket();
          break;
        }
        case IDB: {
          const iface = parseIdb(b, pos, blen, le, sink, `${name}: byte ${bs.offsetOf(pos)}`);
          ifaces.push(iface);
          allIfaces.push(iface);
          sink.linktypes.push(iface.linktype);
          break;
        }
        case ISB: {
          const iface = ifaces[rd32(b, pos + 8, le)];
          if (iface !== undefined) {
            eachOption(b, pos + 20, pos + blen - 4, le, (code, v, len) => {
              if (len !== 8) return;
              if (code === 4) iface.recv = rd64(b, v, le);
              else if (code === 5) iface.ifDrop = rd64(b, v, le);
              else if (code === 7) iface.osDrop = rd64(b, v, le);
            });
          }
          break;
        }
        case PCAPNG_SHB:
          ifaces = [];
          break;
        default:
          break; // name resolution, decryption secrets, custom blocks: not needed here
      }
      pos += blen;
      if (sink.stopping) break;
    }
    bs.pos = pos;
    if (sink.stopping) break;
    onChunk?.();
    if (skipBytes > 0) {
      if (!(await bs.skip(skipBytes))) {
        sink.truncatedRecords++;
        sink.warnings.push(`${name}: the file ends inside a ${skipBytes}-byte block`);
        break;
      }
      continue;
    }
    if (!(await bs.fill(need))) {
      if (bs.available > 0) {
        sink.truncatedRecords++;
        sink.warnings.push(
          `${name}: byte ${bs.offsetOf(bs.pos)}: the last block is cut short (${bs.available} bytes); ` +
            'the capture was probably stopped while writing',
        );
      }
      break;
    }
  }
  for (const i of allIfaces) {
    sink.kernelDrops += i.osDrop;
    sink.kernelIfDrops += i.ifDrop;
    sink.kernelPackets += i.recv;
  }
};
