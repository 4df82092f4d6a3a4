// A double-buffered byte stream over any chunk reader (file, pipe, gunzip). While the parser
// walks one buffer, the next read fills the other; a record cut at a chunk boundary is copied
// into the headroom in front of the new data, so every record is contiguous. Memory is fixed:
// two buffers of HEADROOM + CHUNK bytes, whatever the size of the input.

/** Reads up to `len` bytes into `buf` at `off`; resolves 0 at end of input. */
export interface ChunkReader {
  read(buf: Buffer, off: number, len: number): Promise<number>;
  close(): Promise<void>;
}

export const DEFAULT_CHUNK = 2 << 20;
/** The largest record a parser may ask for in one piece. */
export const HEADROOM = 1 << 20;

export class ByteStream {
  /** The current buffer; valid bytes are [pos, end). */
  buf: Buffer;
  pos: number;
  end: number;
  eof = false;
  /** Input bytes consumed into buffers so far. */
  bytesRead = 0;

  private readonly bufs: [Buffer, Buffer];
  private cur = 0;
  private pending: Promise<number> | null = null;
  private readonly chunk: number;
  /** Input offset of bufs[cur][0]. */
  private base = -HEADROOM;

  constructor(
    private readonly reader: ChunkReader,
    chunk = DEFAULT_CHUNK,
  ) {
    this.chunk = chunk;
    this.bufs = [Buffer.allocUnsafe(HEADROOM + chunk), Buffer.allocUnsafe(HEADROOM + chunk)];
    this.buf = this.bufs[0];
    this.pos = HEADROOM;
    this.end = HEADROOM;
    this.pending = this.reader.read(this.bufs[1], HEADROOM, chunk);
  }

  /** Offset in the input of buffer position `i` (for located error messages). */
  offsetOf(i: number): number {
    return this.base + i;
  }

  /** Bytes available without waiting. */
  get available(): number {
    return this.end - this.pos;
  }

  /**
   * Makes at least `need` bytes (at most HEADROOM) available from `pos`, reading as needed.
   * Returns false when the input ends first; whatever is left stays in [pos, end).
   */
  async fill(need: number): Promise<boolean> {
    if (need > HEADROOM) throw new RangeError(`record of ${need} bytes exceeds the ${HEADROOM}-byte limit`);
    while (this.end - this.pos < need) {
      if (this.pending === null) return false;
      const n = await this.pending;
      this.pending = null;
      const next = this.cur ^ 1;
      const nb = this.bufs[next];
      const tail = this.end - this.pos;
      this.buf.copy(nb, HEADROOM - tail, this.pos, this.end);
      const tailOffset = this.base + this.pos;
      this.cur = next;
      this.buf = nb;
      this.pos = HEADROOM - tail;
      this.end = HEADROOM + n;
      this.base = tailOffset - this.pos;
      this.bytesRead += n;
      if (n === 0) {
        this.eof = true;
        return this.end - this.pos >= need;
      }
      // The other buffer is free again: read ahead into it while the caller parses this one.
      this.pending = this.reader.read(this.bufs[next ^ 1], HEADROOM, this.chunk);
    }
    return true;
  }

  /** Consumes `n` bytes, reading (and discarding) across chunks as needed. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const avail = this.end - this.pos;
      if (avail >= n) {
        this.pos += n;
        return true;
      }
      n -= avail;
      this.pos = this.end;
      if (!(await this.fill(1))) return false;
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.pending) await this.pending.catch(() => 0);
    this.pending = null;
    await this.reader.close();
  }
}
