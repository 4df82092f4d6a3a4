// Capture files as a packet source: a path, or "-" for a pcap/pcapng stream on stdin. The format
// is recognised from the first bytes (pcap in either byte order, pcapng, or gzip around either),
// never from the file name.

import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { PalisadeError } from '../core/errors.js';
import type { Packet } from '../core/packet.js';
import { ByteStream, DEFAULT_CHUNK, type ChunkReader } from './byte-stream.js';
import { isPcapMagic, readPcap, type RecordSink } from './pcap.js';
import { PCAPNG_SHB, readPcapng } from './pcapng.js';
import { emptyCaptureStats, type CaptureStats, type PacketSource } from './source.js';

class FileChunkReader implements ChunkReader {
  constructor(private readonly fh: FileHandle) {}
  async read(buf: Buffer, off: number, len: number): Promise<number> {
    return (await this.fh.read(buf, off, len, null)).bytesRead;
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

  constructor(private readonly stream: Readable) {
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
      if (this.error) throw this.error;
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
      if (this.ended) return 0;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async close(): Promise<void> {
    this.stream.destroy();
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
    };
  }

  /** Input bytes consumed so far, in the same units as `size` (compressed bytes for gzip). */
  position(): number {
    if (this.rawPosition) return this.rawPosition();
    return this.bs ? this.bs.offsetOf(this.bs.pos) : 0;
  }

  private async openReader(): Promise<ChunkReader> {
    if (this.name === '-') return new StreamChunkReader(this.stdin);
    let fh: FileHandle;
    try {
      fh = await open(this.name, 'r');
      const st = await fh.stat();
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      this.size = st.isFile() ? st.size : 0;
      const head = Buffer.alloc(2);
      const { bytesRead } = await fh.read(head, 0, 2, 0);
      if (bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b) {
        await fh.close();
        const raw = createReadStream(this.name);
        this.rawPosition = () => raw.bytesRead;
        return new StreamChunkReader(raw.pipe(createGunzip()));
      }
    } catch (e) {
      throw openError(this.name, e);
    }
    return new FileChunkReader(fh);
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
    } catch (e) {
      if (e instanceof PalisadeError) throw e;
      throw openError(this.name, e);
    } finally {
      await bs.close();
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
    return s;
  }
}
