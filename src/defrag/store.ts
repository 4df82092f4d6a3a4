// Fragment storage for IP reassembly: one slab of fixed 128-byte blocks sized by the memcap, a
// free list, and per-fragment records in typed arrays indexed by the fragment's first block. A
// held fragment's bytes (the first fragment's link and IP headers, then its data) are a chain of
// blocks. Nothing is allocated after construction, and the slab's pages are only mapped once used.

export const BLOCK_SHIFT = 7;
export const BLOCK = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK - 1;

/** Record flags. */
export const FF_MORE = 1;

export class FragStore {
  /** Number of blocks, and those in use (memuse = used * BLOCK). */
  readonly blocks: number;
  used = 0;
  private readonly slab: Uint8Array;
  /** Next block in a fragment's chain, or in the free list; -1 ends either. */
  private readonly link: Int32Array;
  private freeHead = -1;
  /** Blocks from here on were never used (so the free list need not be built up front). */
  private fresh = 0;

  // Per-fragment records, indexed by the fragment's first block.
  /** Next fragment of the same datagram in offset order, -1 at the end. */
  readonly next: Int32Array;
  /** Offset of the fragment's data in the datagram, its length, and Suricata's left trim. */
  readonly off: Int32Array;
  readonly len: Int32Array;
  readonly ltrim: Int32Array;
  /** Header bytes stored before the data: the frame from its start to the data (first fragments), else 0. */
  readonly hdr: Int32Array;
  /** First fragments: offset of the IP header within the stored header, the IPv6 next-header byte to patch (-1), link type, interface. */
  readonly l3: Int32Array;
  readonly nh: Int32Array;
  readonly linktype: Int32Array;
  readonly ifIndex: Int32Array;
  readonly flags: Uint8Array;

  constructor(memcap: number) {
    this.blocks = Math.max(1, Math.floor(memcap / BLOCK));
    const n = this.blocks;
    // Zero-filled allocations are mapped lazily by the OS: a quiet instance costs little memory.
    this.slab = new Uint8Array(n * BLOCK);
    this.link = new Int32Array(n);
    this.next = new Int32Array(n);
    this.off = new Int32Array(n);
    this.len = new Int32Array(n);
    this.ltrim = new Int32Array(n);
    this.hdr = new Int32Array(n);
    this.l3 = new Int32Array(n);
    this.nh = new Int32Array(n);
    this.linktype = new Int32Array(n);
    this.ifIndex = new Int32Array(n);
    this.flags = new Uint8Array(n);
  }

  get free(): number {
    return this.blocks - this.used;
  }

  /** Blocks needed to hold `bytes`. */
  static blocksFor(bytes: number): number {
    return bytes <= 0 ? 1 : (bytes + BLOCK_MASK) >> BLOCK_SHIFT;
  }

  private take(): number {
    let b = this.freeHead;
    if (b >= 0) this.freeHead = this.link[b]!;
    else b = this.fresh++;
    this.link[b] = -1;
    this.used++;
    return b;
  }

  /**
   * Stores `a[aFrom, aTo)` then `b[bFrom, bTo)` as one fragment; returns its record (first
   * block). The caller has checked that `blocksFor(total)` blocks are free.
   */
  put(a: Uint8Array, aFrom: number, aTo: number, b: Uint8Array, bFrom: number, bTo: number): number {
    const total = aTo - aFrom + (bTo - bFrom);
    const nBlocks = FragStore.blocksFor(total);
    const first = this.take();
    let cur = first;
    for (let i = 1; i < nBlocks; i++) {
      const nb = this.take();
      this.link[cur] = nb;
      cur = nb;
    }
    this.write(first, 0, a, aFrom, aTo - aFrom);
    this.write(first, aTo - aFrom, b, bFrom, bTo - bFrom);
    return first;
  }

  /** Returns a fragment's blocks to the free list; returns how many. */
  release(rec: number): number {
    let n = 0;
    let b = rec;
    while (b >= 0) {
      const nx = this.link[b]!;
      this.link[b] = this.freeHead;
      this.freeHead = b;
      b = nx;
      n++;
    }
    this.used -= n;
    return n;
  }

  /** Forgets every block (all fragments dropped at once). */
  reset(): void {
    this.freeHead = -1;
    this.fresh = 0;
    this.used = 0;
  }

  /** Block holding byte `pos` of the chain starting at `rec`. */
  private seek(rec: number, pos: number): number {
    let b = rec;
    for (let k = pos >> BLOCK_SHIFT; k > 0; k--) b = this.link[b]!;
    return b;
  }

  private write(rec: number, pos: number, src: Uint8Array, from: number, n: number): void {
    if (n <= 0) return;
    let b = this.seek(rec, pos);
    let o = pos & BLOCK_MASK;
    const slab = this.slab;
    while (n > 0) {
      const k = Math.min(n, BLOCK - o);
      let d = (b << BLOCK_SHIFT) + o;
      for (let i = 0; i < k; i++) slab[d++] = src[from + i]!;
      from += k;
      n -= k;
      o = 0;
      b = this.link[b]!;
    }
  }

  /** Copies `n` stored bytes of fragment `rec` from byte `pos` into `dst` at `at`. */
  read(rec: number, pos: number, dst: Uint8Array, at: number, n: number): void {
    if (n <= 0) return;
    let b = this.seek(rec, pos);
    let o = pos & BLOCK_MASK;
    const slab = this.slab;
    while (n > 0) {
      const k = Math.min(n, BLOCK - o);
      let s = (b << BLOCK_SHIFT) + o;
      for (let i = 0; i < k; i++) dst[at + i] = slab[s++]!;
      at += k;
      n -= k;
      o = 0;
      b = this.link[b]!;
    }
  }

  /** True when `n` stored bytes of `rec` from `pos` equal `src[from, from + n)`. */
  same(rec: number, pos: number, src: Uint8Array, from: number, n: number): boolean {
    if (n <= 0) return true;
    let b = this.seek(rec, pos);
    let o = pos & BLOCK_MASK;
    const slab = this.slab;
    while (n > 0) {
      const k = Math.min(n, BLOCK - o);
      let s = (b << BLOCK_SHIFT) + o;
      for (let i = 0; i < k; i++) if (slab[s++] !== src[from + i]) return false;
      from += k;
      n -= k;
      o = 0;
      b = this.link[b]!;
    }
    return true;
  }
}
