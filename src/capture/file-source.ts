// Capture files as a packet source: a path, or "-" for a pcap/pcapng stream on stdin. The format
// is recognised from the first bytes (pcap in either byte order, pcapng, or gzip around either),
// never from the file name.

import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { crc32, createInflateRaw } from 'node:zlib';
import { PalisadeError } from '../core/errors.js';
import type { Packet } from '../core/packet.js';
import { ByteStream, DEFAULT_CHUNK, type ChunkReader } from './byte-stream.js';
import { isPcapMagic, readPcap, type RecordSink } from './pcap.js';
import { PCAPNG_SHB, readPcapng } from './pcapng.js';
import { emptyCaptureStats, type CaptureStats, type PacketSource } from './source.js';

class FileChunkReader implements ChunkReader {
  constructor(
    private readonly fh: FileHandle,
    private readonly name: string,
  ) {}
  async read(buf: Buffer, off: number, len: number): Promise<number> {
    try {
      return (await this.fh.read(buf, off, len, null)).bytesRead;
    } catch (e) {
      throw openError(this.name, e);
    }
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Reads a Node stream, handing over whatever is buffered (at least one byte) on each read. */
export class StreamChunkReader implements ChunkReader {
  private leftover: Buffer | null = null;
  private ended = false;
  private error: Error | null = null;
  private waiter: (() => void) | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly name = '-',
  ) {
    stream.on('readable', () => this.wake());
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (e: Error) => {
      this.error = e;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async read(buf: Buffer, off: number, len: number): Promise<number> {
    for (;;) {
      // Whatever the stream buffered before a fault is handed over first.
      let n = 0;
      while (n < len) {
        const chunk = this.leftover ?? (this.stream.read() as Buffer | null);
        this.leftover = null;
        if (chunk === null) break;
        const k = Math.min(len - n, chunk.length);
        chunk.copy(buf, off + n, 0, k);
        n += k;
        if (k < chunk.length) this.leftover = chunk.subarray(k);
      }
      if (n > 0) return n;
      if (this.error) throw openError(this.name, this.error);
      if (this.ended) return 0;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async close(): Promise<void> {
    this.stream.destroy();
  }
}

/** Serves `head` (bytes already read to recognise the format), then the rest of `inner`. */
class PrefixReader implements ChunkReader {
  constructor(
    private head: Buffer,
    private readonly inner: ChunkReader,
  ) {}
  async read(buf: Buffer, off: number, len: number): Promise<number> {
    if (this.head.length === 0) return this.inner.read(buf, off, len);
    const k = this.head.copy(buf, off, 0, Math.min(len, this.head.length));
    this.head = this.head.subarray(k);
    return k;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Reads up to `n` bytes from the start of `r` (fewer at end of input), and a reader that serves them again. */
async function peek(r: ChunkReader, n: number): Promise<{ head: Buffer; reader: ChunkReader }> {
  const head = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = await r.read(head, got, n - got);
    if (k === 0) break;
    got += k;
  }
  return { head: head.subarray(0, got), reader: new PrefixReader(head.subarray(0, got), r) };
}

const GZ_IN = 16 << 10;

/**
 * gzip (RFC 1952, one member or several) over a compressed reader. The header and trailer are
 * parsed here and only the deflate data goes to zlib, so every byte inflated before a fault is
 * handed over before the fault is raised, and the fault names its compressed offset. A stream
 * that ends early (no trailer) ends the input with a warning; a bad CRC or length, a broken
 * deflate stream, a bad header or data after the end are PAL_ERR_CAPTURE_CORRUPT.
 */
class GunzipReader implements ChunkReader {
  /** Compressed bytes consumed so far (for progress and messages). */
  consumed = 0;
  private readonly inBuf = Buffer.allocUnsafe(GZ_IN);
  private inPos = 0;
  private inEnd = 0;
  private inEof = false;
  private readonly out: Buffer[] = [];
  private fault: Error | null = null;
  private done = false;
  private readonly pump: AsyncGenerator<void, void, void>;

  constructor(
    private readonly raw: ChunkReader,
    private readonly name: string,
    private readonly warnings: string[],
  ) {
    this.pump = this.members();
  }

  async read(buf: Buffer, off: number, len: number): Promise<number> {
    for (;;) {
      let n = 0;
      while (n < len && this.out.length > 0) {
        const c = this.out[0]!;
        const k = c.copy(buf, off + n, 0, Math.min(len - n, c.length));
        n += k;
        if (k < c.length) this.out[0] = c.subarray(k);
        else this.out.shift();
      }
      if (n > 0) return n;
      if (this.fault) throw this.fault;
      if (this.done) return 0;
      try {
        if ((await this.pump.next()).done) this.done = true;
      } catch (e) {
        // Raised once the inflated bytes before it have been handed over.
        this.fault = e as Error;
      }
    }
  }

  close(): Promise<void> {
    return this.raw.close();
  }

  private corrupt(at: number, why: string): PalisadeError {
    return new PalisadeError('PAL_ERR_CAPTURE_CORRUPT', `${this.name}: the gzip data is corrupt at compressed byte ${at}: ${why}`);
  }

  private cut(at: number): void {
    this.warnings.push(`${this.name}: compressed byte ${at}: the gzip stream ends without its trailer; the capture was probably stopped while writing`);
  }

  /** Makes `n` compressed bytes available at inPos; false when the input ends first. */
  private async fill(n: number): Promise<boolean> {
    while (this.inEnd - this.inPos < n) {
      if (this.inEof) return false;
      this.inBuf.copy(this.inBuf, 0, this.inPos, this.inEnd);
      this.inEnd -= this.inPos;
      this.inPos = 0;
      const k = await this.raw.read(this.inBuf, this.inEnd, GZ_IN - this.inEnd);
      if (k === 0) this.inEof = true;
      this.inEnd += k;
    }
    return true;
  }

  private take(n: number): void {
    this.inPos += n;
    this.consumed += n;
  }

  /** Skips a zero-terminated header field. */
  private async skipString(): Promise<boolean> {
    for (;;) {
      if (!(await this.fill(1))) return false;
      const z = this.inBuf.indexOf(0, this.inPos);
      if (z >= 0 && z < this.inEnd) {
        this.take(z + 1 - this.inPos);
        return true;
      }
      this.take(this.inEnd - this.inPos);
    }
  }

  private async *members(): AsyncGenerator<void, void, void> {
    for (let member = 0; ; member++) {
      const start = this.consumed;
      if (member > 0) {
        // After a member: the end, another member, or data that does not belong.
        if (!(await this.fill(1))) return;
        await this.fill(2);
        if (this.inBuf[this.inPos] !== 0x1f || this.inBuf[this.inPos + 1] !== 0x8b || this.inEnd - this.inPos < 2) {
          throw this.corrupt(start, 'other data follows the end of the gzip stream');
        }
      }
      if (!(await this.fill(10))) return this.cut(start);
      const b = this.inBuf;
      const h = this.inPos;
      if (b[h] !== 0x1f || b[h + 1] !== 0x8b) throw this.corrupt(start, 'not a gzip header');
      if (b[h + 2] !== 8) throw this.corrupt(start + 2, `unknown compression method ${b[h + 2]}`);
      const flags = b[h + 3]!;
      this.take(10);
      if (flags & 4) {
        if (!(await this.fill(2))) return this.cut(this.consumed);
        const xlen = this.inBuf.readUInt16LE(this.inPos);
        this.take(2);
        for (let left = xlen; left > 0; ) {
          if (!(await this.fill(1))) return this.cut(this.consumed);
          const k = Math.min(left, this.inEnd - this.inPos);
          this.take(k);
          left -= k;
        }
      }
      if (flags & 8 && !(await this.skipString())) return this.cut(this.consumed);
      if (flags & 16 && !(await this.skipString())) return this.cut(this.consumed);
      if (flags & 2) {
        if (!(await this.fill(2))) return this.cut(this.consumed);
        this.take(2);
      }
      // The deflate data: fed in pieces; the engine stops consuming at the end of its stream.
      const z = createInflateRaw();
      const bodyStart = this.consumed;
      let crc = 0;
      let size = 0;
      let zerr: Error | null = null;
      z.on('data', (c: Buffer) => {
        crc = crc32(c, crc);
        size += c.length;
        this.out.push(c);
      });
      z.on('error', (e: Error) => (zerr = e));
      try {
        for (;;) {
          if (!(await this.fill(1))) {
            // The input ends inside the deflate data, or right after it (no trailer).
            await new Promise<void>((resolve) => {
              z.once('end', resolve);
              z.once('error', () => resolve());
              z.end();
            });
            if (zerr !== null && (zerr as NodeJS.ErrnoException).code !== 'Z_BUF_ERROR') throw this.corrupt(bodyStart + z.bytesWritten, (zerr as Error).message);
            if (this.out.length > 0) yield;
            return this.cut(this.consumed);
          }
          const piece = this.inBuf.subarray(this.inPos, this.inEnd);
          // Every 'data' event of this piece runs before the write callback (or the error).
          await new Promise<void>((resolve) => {
            const done = (): void => {
              z.off('error', done);
              resolve();
            };
            z.on('error', done);
            z.write(piece, done);
          });
          if (zerr !== null) throw this.corrupt(bodyStart + z.bytesWritten, (zerr as Error).message);
          const used = bodyStart + z.bytesWritten - this.consumed;
          this.take(used);
          if (this.out.length > 0) yield;
          if (used < piece.length) break; // the deflate stream ended inside this piece
        }
      } finally {
        z.destroy();
      }
      const trailer = this.consumed;
      if (!(await this.fill(8))) return this.cut(trailer);
      const wantCrc = this.inBuf.readUInt32LE(this.inPos);
      const wantSize = this.inBuf.readUInt32LE(this.inPos + 4);
      if (wantCrc !== crc >>> 0) throw this.corrupt(trailer, `CRC mismatch (trailer says 0x${wantCrc.toString(16)}, the data gives 0x${(crc >>> 0).toString(16)})`);
      if (wantSize !== size % 4294967296) throw this.corrupt(trailer + 4, `length mismatch (trailer says ${wantSize} bytes, the data gives ${size % 4294967296})`);
      this.take(8);
    }
  }
}

function openError(path: string, e: unknown): PalisadeError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : (e as Error).message;
  return new PalisadeError('PAL_ERR_CAPTURE_OPEN', `${path}: cannot read capture file: ${why}`, { cause: e });
}

export class FileSource implements PacketSource {
  format = 'unknown';
  readonly linktypes: number[] = [];
  readonly warnings: string[] = [];
  size = 0;
  private readonly sink: RecordSink;
  private bs: ByteStream | null = null;
  private rawPosition: (() => number) | null = null;

  constructor(
    readonly name: string,
    private readonly stdin: Readable = process.stdin,
    /** Read size; small values exercise records cut across reads (tests). */
    private readonly chunkSize = DEFAULT_CHUNK,
  ) {
    this.sink = {
      stopping: false,
      packets: 0,
      truncatedRecords: 0,
      skippedRecords: 0,
      warnings: this.warnings,
      linktypes: this.linktypes,
      kernelDrops: 0,
      kernelIfDrops: 0,
      kernelPackets: 0,
      badTimestamps: 0,
      unsupported: [],
    };
  }

  /** Input bytes consumed so far, in the same units as `size` (compressed bytes for gzip). */
  position(): number {
    if (this.rawPosition) return this.rawPosition();
    return this.bs ? this.bs.offsetOf(this.bs.pos) : 0;
  }

  private async openReader(): Promise<ChunkReader> {
    let raw: ChunkReader;
    if (this.name === '-') raw = new StreamChunkReader(this.stdin);
    else {
      let fh: FileHandle;
      try {
        fh = await open(this.name, 'r');
        const st = await fh.stat();
        if (st.isDirectory()) {
          await fh.close();
          throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        }
        this.size = st.isFile() ? st.size : 0;
      } catch (e) {
        throw openError(this.name, e);
      }
      raw = new FileChunkReader(fh, this.name);
    }
    // gzip is recognised by its magic, on files and on stdin alike.
    let peeked: Awaited<ReturnType<typeof peek>>;
    try {
      peeked = await peek(raw, 2);
    } catch (e) {
      await raw.close().catch(() => {});
      throw e;
    }
    const { head, reader } = peeked;
    if (head.length === 2 && head[0] === 0x1f && head[1] === 0x8b) {
      const gz = new GunzipReader(reader, this.name, this.warnings);
      this.rawPosition = () => gz.consumed;
      return gz;
    }
    return reader;
  }

  async run(p: Packet, onPacket: () => void, onChunk?: () => void): Promise<void> {
    const reader = await this.openReader();
    const bs = new ByteStream(reader, this.chunkSize);
    this.bs = bs;
    try {
      if (!(await bs.fill(4))) {
        throw new PalisadeError(
          'PAL_ERR_CAPTURE_FORMAT',
          bs.available === 0 ? `${this.name}: empty input, not a capture` : `${this.name}: too short to be a capture (${bs.available} bytes)`,
        );
      }
      if (isPcapMagic(bs.buf, bs.pos)) {
        this.format = 'pcap';
        await readPcap(bs, this.name, this.sink, p, onPacket, onChunk);
      } else if (bs.buf.readUInt32LE(bs.pos) === PCAPNG_SHB) {
        this.format = 'pcapng';
        await readPcapng(bs, this.name, this.sink, p, onPacket, onChunk);
      } else {
        const magic = bs.buf.subarray(bs.pos, bs.pos + 4).toString('hex');
        throw new PalisadeError(
          'PAL_ERR_CAPTURE_FORMAT',
          `${this.name}: not a pcap or pcapng capture (starts with 0x${magic}; expected a1b2c3d4, d4c3b2a1, a1b23c4d, 4d3cb2a1 or 0a0d0d0a)`,
        );
      }
    } finally {
      // Reader faults arrive as PalisadeErrors; anything else (from onPacket, onChunk or a bug)
      // goes on unchanged.
      await bs.close();
      const byType = new Map<number, number>();
      for (const c of this.sink.unsupported) byType.set(c.linktype, (byType.get(c.linktype) ?? 0) + c.packets);
      for (const [lt, n] of byType) this.warnings.push(`${this.name}: link type ${lt} is not decoded; its ${n} packets are counted but not inspected`);
    }
  }

  stop(): void {
    this.sink.stopping = true;
  }

  stats(): CaptureStats {
    const s = emptyCaptureStats();
    s.packets = this.sink.packets;
    s.bytes = this.bs ? this.bs.bytesRead : 0;
    s.truncatedRecords = this.sink.truncatedRecords;
    s.skippedRecords = this.sink.skippedRecords;
    s.kernelDrops = this.sink.kernelDrops;
    s.kernelIfDrops = this.sink.kernelIfDrops;
    s.kernelPackets = this.sink.kernelPackets;
    s.badTimestamps = this.sink.badTimestamps;
    return s;
  }
}
