// Classic pcap files (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap): both byte orders,
// micro- and nanosecond timestamps, the FCS bits of the link-type field, and the "modified" pcap
// variant with 24-byte record headers. Streams through a ByteStream in constant memory.

import { PalisadeError } from '../core/errors.js';
import type { Packet } from '../core/packet.js';
import { SUPPORTED_LINKTYPES } from '../decode/decoder.js';
import { HEADROOM, type ByteStream } from './byte-stream.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
/** libpcap's MAXIMUM_SNAPLEN: larger records are corruption, not packets. */
export const MAX_RECORD = 262144;
/** pcap's own ceiling (32-bit seconds, year 2106): a packet time at or past it, or negative, is impossible. */
export const MAX_TS_SEC = 4294967296;

/** A capture-format reader: streams records from `bs` into `p`, one onPacket() call each. */
export type RecordReader = (
  bs: ByteStream,
  name: string,
  sink: RecordSink,
  p: Packet,
  onPacket: () => void,
  onChunk: (() => void) | undefined,
) => Promise<void>;

export interface RecordSink {
  stopping: boolean;
  packets: number;
  truncatedRecords: number;
  skippedRecords: number;
  warnings: string[];
  linktypes: number[];
  kernelDrops: number;
  kernelIfDrops: number;
  kernelPackets: number;
  /** Packets whose timestamp was impossible; they kept the previous packet's time. */
  badTimestamps: number;
  /** Link types the decoder does not inspect, one entry per pcap file or pcapng interface. */
  unsupported: LinkCount[];
}

export interface LinkCount {
  linktype: number;
  packets: number;
}

/** A packet counter when `linktype` is one the decoder cannot inspect (to warn about it), else null. */
export function linkCounter(sink: RecordSink, linktype: number): LinkCount | null {
  if (SUPPORTED_LINKTYPES.has(linktype)) return null;
  const c = { linktype, packets: 0 };
  sink.unsupported.push(c);
  return c;
}

/** Counts a packet whose time is impossible (the caller keeps the previous time); warns once per file. */
export function badTimestamp(sink: RecordSink, name: string, offset: number, sec: number): void {
  if (sink.badTimestamps++ === 0) {
    sink.warnings.push(
      `${name}: byte ${offset}: packet ${sink.packets + 1} has an impossible timestamp (${sec} s); ` +
        "it and any later such packets keep the previous packet's time (counted as bad timestamps)",
    );
  }
}

function rd32(b: Buffer, o: number, le: boolean): number {
  return le ? le32(b, o) : be32(b, o);
}

// Byte composition beats Buffer#readUInt32LE on this hot loop (no bounds-check helper call).
function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** True for the four byte patterns that start a classic pcap file (any order, any variant). */
export function isPcapMagic(b: Buffer, o: number): boolean {
  const le = b.readUInt32LE(o);
  const be = b.readUInt32BE(o);
  return [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED].some((m) => le === m || be === m);
}

export const readPcap: RecordReader = async (bs, name, sink, p, onPacket, onChunk) => {
  if (!(await bs.fill(24))) {
    throw new PalisadeError('PAL_ERR_CAPTURE_FORMAT', `${name}: file ends inside the 24-byte pcap header`);
  }
  const h = bs.buf;
  const h0 = bs.pos;
  const magicLE = h.readUInt32LE(h0);
  const le = magicLE === PCAP_MAGIC_US || magicLE === PCAP_MAGIC_NS || magicLE === PCAP_MAGIC_MODIFIED;
  const magic = le ? magicLE : h.readUInt32BE(h0);
  const nano = magic === PCAP_MAGIC_NS;
  const recHdr = magic === PCAP_MAGIC_MODIFIED ? 24 : 16;
  const snaplen = rd32(h, h0 + 16, le);
  const ltField = rd32(h, h0 + 20, le);
  const linktype = ltField & 0xffff;
  // Bits 28-31 give the FCS length in 16-bit words when bit 26 is set.
  const fcsLen = (ltField & 0x04000000) !== 0 ? ((ltField >>> 28) & 0xf) * 2 : 0;
  sink.linktypes.push(linktype);
  const counter = linkCounter(sink, linktype);
  bs.pos += 24;
  const maxCap = Math.min(Math.max(snaplen, MAX_RECORD), HEADROOM - recHdr);

  for (;;) {
    const b = bs.buf;
    let pos = bs.pos;
    const end = bs.end;
    let need = 0;
    for (;;) {
      if (end - pos < recHdr) {
        need = recHdr;
        break;
      }
      let caplen: number;
      let wirelen: number;
      let sec: number;
      let frac: number;
      if (le) {
        sec = le32(b, pos);
        frac = le32(b, pos + 4);
        caplen = le32(b, pos + 8);
        wirelen = le32(b, pos + 12);
      } else {
        sec = be32(b, pos);
        frac = be32(b, pos + 4);
        caplen = be32(b, pos + 8);
        wirelen = be32(b, pos + 12);
      }
      if (caplen > maxCap) {
        bs.pos = pos;
        throw new PalisadeError(
          'PAL_ERR_CAPTURE_CORRUPT',
          `${name}: byte ${bs.offsetOf(pos)}: record ${sink.packets + 1} claims ${caplen} captured bytes ` +
            `(limit ${maxCap}); the file is corrupt from here on`,
        );
      }
      if (end - pos < recHdr + caplen) {
        need = recHdr + caplen;
        break;
      }
      let nsec = nano ? frac : frac * 1000;
      if (nsec >= 1e9) {
        sec += Math.floor(nsec / 1e9);
        nsec %= 1e9;
        // Only a carry can pass the 32-bit ceiling.
        if (sec >= MAX_TS_SEC) {
          badTimestamp(sink, name, bs.offsetOf(pos), sec);
          sec = p.tsSec;
          nsec = p.tsNsec;
        }
      }
      p.tsSec = sec;
      p.tsNsec = nsec;
      if (fcsLen !== 0 && caplen === wirelen && caplen >= fcsLen) {
        // The frame check sequence is part of the record: it is not packet data.
        p.caplen = caplen - fcsLen;
        p.wirelen = wirelen - fcsLen;
      } else {
        p.caplen = caplen;
        p.wirelen = wirelen < caplen ? caplen : wirelen;
      }
      p.linktype = linktype;
      p.ifIndex = 0;
      p.data = b;
      p.off = pos + recHdr;
      pos += recHdr + caplen;
      if (counter !== null) counter.packets++;
      sink.packets++;
      onPacket();
      if (sink.stopping) break;
    }
    bs.pos = pos;
    if (sink.stopping) return;
    onChunk?.();
    if (!(await bs.fill(need))) break;
  }
  if (bs.available > 0) {
    sink.truncatedRecords++;
    sink.warnings.push(
      `${name}: byte ${bs.offsetOf(bs.pos)}: the last record is cut short (${bs.available} bytes of a record); ` +
        'the capture was probably stopped while writing',
    );
  }
};
