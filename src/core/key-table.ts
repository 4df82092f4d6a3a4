// A bounded hash table of fixed-width keys (N 32-bit words) to slot numbers, in typed arrays,
// with an LRU list and a last-seen time per slot. Flow tracking and detectors keep their own
// per-slot values indexed by the slot. Time is read from the shared clock (a double passed as an
// argument would be boxed on every call). Memory is fixed at construction; when full, the least
// recently used slot is evicted. Nothing is allocated per lookup.
//
// Layout: each slot is one record [last (f64), hash, prev, next, key words..., values (f64)...]
// in a shared buffer, so a lookup that hits touches one record (padded to whole cache lines)
// instead of one cache line per field. `vals` views the owner's per-slot values.

import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.js';

const R_LAST = 0; // f64 at words 0-1
const R_HASH = 2;
const R_PREV = 3;
const R_NEXT = 4;
const R_KEY = 5;

/**
 * Writes every page of a freshly allocated buffer, so that the kernel maps it now, at startup,
 * and not on first use in the packet path (a page fault per 4 KiB of table while traffic flows).
 */
export function prefault<T extends ArrayBufferView>(a: T): T {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (let i = 0; i < b.length; i += 4096) b[i] = 0;
  return a;
}

/** murmur3's 32-bit finaliser: every input bit moves every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class KeyTable {
  readonly words: number;
  readonly capacity: number;
  /**
   * Scratch key: write the key's words here, then call find() or get(). Int32 storage keeps every
   * comparison in small integers (an unsigned word above 2^31 would be read back as a double).
   */
  readonly key: Int32Array;
  /** Set by get(): true when the returned slot was just created. */
  isNew = false;
  size = 0;
  /** Slots removed to make room (table full), and slots removed by expire(). */
  evicted = 0;
  expired = 0;
  /** Called with a slot just before it is removed (evicted, expired or deleted). */
  onRemove: ((slot: number, reason: 'evict' | 'expire' | 'delete') => void) | null = null;

  /** Per-slot values: slot s owns vals[valBase(s) .. valBase(s) + valueCount). */
  readonly vals: Float64Array;
  /** The same values as 32-bit words, for owners that pack integers: see intBase(). */
  readonly ints: Int32Array;
  readonly valueCount: number;
  /** Record stride in 32-bit words (even, so that `last` is an aligned f64). */
  private readonly stride: number;
  private readonly valOffset: number;
  private readonly rec: Int32Array;
  private readonly recF: Float64Array;
  /**
   * Open-addressed index: each entry is a slot number with a tag of high hash bits above it, so
   * that a probe past another key rarely reads that key's record; -1 is empty.
   */
  private readonly index: Int32Array;
  private readonly slotBits: number;
  private readonly slotMask: number;
  private readonly mask: number;
  private readonly free: Int32Array;
  private readonly live: Uint8Array;
  private freeTop: number;
  /** The slot last returned by get() or find(), or -1. */
  private lastSlot = -1;
  private head = -1; // most recently used
  private tail = -1; // least recently used
  private readonly seed: number;

  /**
   * `slack`: seconds a slot's last-seen time may lag. A hit within `slack` of the last touch
   * skips moving the slot in the LRU list (two random record writes), so last-seen times, expiry
   * and LRU order are exact to within `slack`.
   */
  constructor(
    words: number,
    capacity: number,
    private readonly clock: Clock,
    valueCount = 0,
    private readonly slack = 0,
    /** Map the records' memory at construction (tables that fill up anyway, like flows). */
    prefaultRecords = false,
  ) {
    if (!(words >= 1 && capacity >= 1)) throw new RangeError('KeyTable needs words >= 1 and capacity >= 1');
    this.words = words;
    this.capacity = capacity;
    this.key = new Int32Array(words);
    this.valueCount = valueCount;
    this.valOffset = (R_KEY + words + 1) & ~1;
    let stride = this.valOffset + 2 * valueCount;
    // Records of more than one cache line start on a line boundary (16 words = 64 bytes).
    if (stride > 16) stride = (stride + 15) & ~15;
    this.stride = stride;
    const buf = new ArrayBuffer(this.stride * 4 * capacity);
    this.rec = prefaultRecords ? prefault(new Int32Array(buf)) : new Int32Array(buf);
    this.recF = new Float64Array(buf);
    this.vals = this.recF;
    this.ints = this.rec;
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.index = new Int32Array(size).fill(-1);
    let bits = 1;
    while (1 << bits < capacity) bits++;
    this.slotBits = bits;
    this.slotMask = (1 << bits) - 1;
    this.mask = size - 1;
    this.free = new Int32Array(capacity);
    this.live = new Uint8Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
    // A per-process seed keeps crafted addresses from colliding on purpose. Verdicts never depend
    // on hash order (slots come from a free list, iteration follows the LRU list), so replay
    // stays deterministic.
    this.seed = randomBytes(4).readInt32LE(0);
  }

  /** Bytes held by this table's arrays. */
  get memoryBytes(): number {
    return this.rec.byteLength + this.index.byteLength + this.free.byteLength + this.live.byteLength;
  }

  private hashScratch(): number {
    const k = this.key;
    let h = this.seed;
    if (this.words === 4) {
      // The common short key (an IPv4 flow, an address): unrolled.
      h = Math.imul(h ^ k[0]!, 0x9e3779b1);
      h = Math.imul(h ^ (h >>> 15) ^ k[1]!, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13) ^ k[2]!, 0xc2b2ae35);
      h = Math.imul(h ^ (h >>> 16) ^ k[3]!, 0x9e3779b1);
    } else {
      for (let i = 0; i < this.words; i++) {
        h = Math.imul(h ^ k[i]!, 0x9e3779b1);
        h ^= h >>> 15;
      }
    }
    return fmix32(h);
  }

  /** True when the record at `base` holds the scratch key. */
  private sameKey(base: number): boolean {
    const r = this.rec;
    const k = this.key;
    const kb = base + R_KEY;
    if (this.words === 4) return r[kb] === k[0] && r[kb + 1] === k[1] && r[kb + 2] === k[2] && r[kb + 3] === k[3];
    for (let i = 0; i < this.words; i++) if (r[kb + i] !== k[i]) return false;
    return true;
  }

  private matches(base: number, h: number): boolean {
    return this.rec[base + R_HASH] === h && this.sameKey(base);
  }


  /** The slot holding the scratch key, or -1. Does not touch the LRU order. */
  find(): number {
    // Packets come in trains (a flow's burst, a scanner's run): the last key found comes first.
    const last = this.lastSlot;
    if (last >= 0 && this.sameKey(last * this.stride)) return last;
    const h = this.hashScratch();
    const tag = this.tagOf(h);
    let i = h & this.mask;
    for (;;) {
      const e = this.index[i]!;
      if (e < 0) return -1;
      if (e >>> this.slotBits === tag) {
        const s = e & this.slotMask;
        if (this.matches(s * this.stride, h)) return (this.lastSlot = s);
      }
      i = (i + 1) & this.mask;
    }
  }

  /** The hash bits kept beside the slot in an index entry (those above the slot, below the sign). */
  private tagOf(h: number): number {
    return h >>> (this.slotBits + 1);
  }

  /** The slot for the scratch key, created (evicting the LRU slot if full) when absent; touched. */
  get(): number {
    const now = this.clock.now;
    const last = this.lastSlot;
    if (last >= 0 && this.sameKey(last * this.stride)) {
      this.isNew = false;
      if (now - this.recF[(last * this.stride + R_LAST) >> 1]! > this.slack) this.touch(last);
      return last;
    }
    const h = this.hashScratch();
    const tag = this.tagOf(h);
    let i = h & this.mask;
    for (;;) {
      const e = this.index[i]!;
      if (e < 0) break;
      if (e >>> this.slotBits === tag) {
        const s = e & this.slotMask;
        if (this.matches(s * this.stride, h)) {
          this.isNew = false;
          if (now - this.recF[(s * this.stride + R_LAST) >> 1]! > this.slack) this.touch(s);
          return (this.lastSlot = s);
        }
      }
      i = (i + 1) & this.mask;
    }
    if (this.freeTop === 0) {
      this.evicted++;
      this.removeSlot(this.tail, 'evict');
      // The index changed: find the insertion point again.
      i = h & this.mask;
      while (this.index[i]! >= 0) i = (i + 1) & this.mask;
    }
    const s = this.free[--this.freeTop]!;
    this.index[i] = (tag << this.slotBits) | s;
    const base = s * this.stride;
    const r = this.rec;
    r[base + R_HASH] = h;
    const k = this.key;
    for (let w = 0; w < this.words; w++) r[base + R_KEY + w] = k[w]!;
    this.recF[(base + R_LAST) >> 1] = now;
    this.linkHead(s);
    this.size++;
    this.live[s] = 1;
    this.isNew = true;
    return (this.lastSlot = s);
  }

  /**
   * For owners whose value 0 is a window's start time: when the slot was just created by get(),
   * or its window of `window` seconds is over, zeroes its values and starts the window at `now`
   * (default: the clock's time). Returns true when it did (the owner then resets any state it
   * keeps beside the record).
   */
  restartWindow(slot: number, window: number, now = this.clock.now): boolean {
    const v = this.vals;
    const b = this.valBase(slot);
    if (!this.isNew && now - v[b]! <= window) return false;
    for (let i = b + 1, end = b + this.valueCount; i < end; i++) v[i] = 0;
    v[b] = now;
    return true;
  }

  /** Index in `vals` of the slot's first value. */
  valBase(slot: number): number {
    return (slot * this.stride + this.valOffset) >> 1;
  }

  /** Index in `ints` of the slot's first value word (value i is words 2i and 2i + 1). */
  intBase(slot: number): number {
    return slot * this.stride + this.valOffset;
  }

  /** True while the slot holds a key. */
  isLive(slot: number): boolean {
    return this.live[slot] === 1;
  }

  /** Last time a slot was touched (seconds, packet time). */
  lastSeen(slot: number): number {
    return this.recF[(slot * this.stride + R_LAST) >> 1]!;
  }

  /** Marks a slot found by find() as used, as get() would have (within `slack`). */
  use(slot: number): void {
    this.isNew = false;
    if (this.clock.now - this.recF[(slot * this.stride + R_LAST) >> 1]! > this.slack) this.touch(slot);
  }

  /** Marks a slot as used now: it moves to the head of the LRU list. */
  touch(slot: number): void {
    this.recF[(slot * this.stride + R_LAST) >> 1] = this.clock.now;
    if (this.head === slot) return;
    this.unlink(slot);
    this.linkHead(slot);
  }

  /** Word `w` of the key stored in `slot` (unsigned). */
  keyWord(slot: number, w: number): number {
    return this.rec[slot * this.stride + R_KEY + w]! >>> 0;
  }

  /** Removes a slot by number. */
  delete(slot: number): void {
    this.removeSlot(slot, 'delete');
  }

  /** Removes every slot last touched before `cutoff`, oldest first; returns how many. */
  expire(cutoff: number): number {
    let n = 0;
    while (this.tail >= 0 && this.lastSeen(this.tail) < cutoff) {
      this.removeSlot(this.tail, 'expire');
      n++;
    }
    this.expired += n;
    return n;
  }

  /** Visits live slots from most to least recently used. */
  forEach(fn: (slot: number) => void): void {
    for (let s = this.head; s >= 0; ) {
      const nx = this.rec[s * this.stride + R_NEXT]!;
      fn(s);
      s = nx;
    }
  }

  /** Removes every slot. */
  clear(): void {
    while (this.tail >= 0) this.removeSlot(this.tail, 'delete');
  }

  private linkHead(s: number): void {
    const r = this.rec;
    const b = s * this.stride;
    r[b + R_PREV] = -1;
    r[b + R_NEXT] = this.head;
    if (this.head >= 0) r[this.head * this.stride + R_PREV] = s;
    this.head = s;
    if (this.tail < 0) this.tail = s;
  }

  private unlink(s: number): void {
    const r = this.rec;
    const b = s * this.stride;
    const p = r[b + R_PREV]!;
    const n = r[b + R_NEXT]!;
    if (p >= 0) r[p * this.stride + R_NEXT] = n;
    else this.head = n;
    if (n >= 0) r[n * this.stride + R_PREV] = p;
    else this.tail = p;
  }

  private removeSlot(s: number, reason: 'evict' | 'expire' | 'delete'): void {
    if (this.onRemove) this.onRemove(s, reason);
    if (s === this.lastSlot) this.lastSlot = -1;
    const mask = this.mask;
    const r = this.rec;
    // Find the slot's index position, then delete it with backward shift (no tombstones).
    const slotMask = this.slotMask;
    let i = r[s * this.stride + R_HASH]! & mask;
    while ((this.index[i]! & slotMask) !== s || this.index[i]! < 0) i = (i + 1) & mask;
    for (;;) {
      this.index[i] = -1;
      let j = i;
      for (;;) {
        j = (j + 1) & mask;
        const t = this.index[j]!;
        if (t < 0) {
          this.unlink(s);
          this.free[this.freeTop++] = s;
          this.live[s] = 0;
          this.size--;
          return;
        }
        const home = r[(t & slotMask) * this.stride + R_HASH]! & mask;
        // Move t back to i when its home position is not in the cyclic range (i, j].
        const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
        if (!inRange) {
          this.index[i] = t;
          i = j;
          break;
        }
      }
    }
  }
}
