// Distinct counting for the scan detectors, in preallocated typed arrays: a fixed-size bitmap per
// tracked key (exact until bits collide, then a linear-counting estimate), and HyperLogLog
// registers per key for long windows. `mix32` hashes a 32-bit value with a fixed seed: counts
// decide verdicts, and a replay must give the same verdicts on every run (a per-process seed
// would move bit collisions around). The price, a known hash, is noted in docs/detection.md.

import { fmix32 } from '../core/key-table.js';

const SEED = 0x5bd1e995;

/** A well-mixed 32-bit hash of `x` (murmur3 finaliser over a seeded value). */
export function mix32(x: number): number {
  return fmix32(Math.imul(x ^ SEED, 0x9e3779b1));
}

/**
 * Hash of an address held as four words. An IPv4 address (mapped: ::ffff:a.b.c.d) takes one round,
 * a bijection of its 32 bits (two IPv4 addresses never share a hash); IPv6 takes four.
 */
export function mixAddr(w0: number, w1: number, w2: number, w3: number): number {
  if (w2 === 0xffff && w0 === 0 && w1 === 0) return mix32(w3);
  return mix32(w3 ^ mix32(w2 ^ mix32(w1 ^ mix32(w0))));
}

/** `count` bitmaps of `bits` bits each (a power of two, 32 or more). */
export class BitSets {
  readonly words: Uint32Array;
  private readonly perSet: number;
  private readonly mask: number;

  constructor(count: number, readonly bits: number) {
    this.perSet = bits >>> 5;
    this.mask = bits - 1;
    this.words = new Uint32Array(count * this.perSet);
  }

  /** Sets the bit for hash `h` in set `s`; true when it was clear (a new value). */
  add(s: number, h: number): boolean {
    const b = h & this.mask;
    const i = s * this.perSet + (b >>> 5);
    const m = 1 << (b & 31);
    const w = this.words[i]!;
    if ((w & m) !== 0) return false;
    this.words[i] = w | m;
    return true;
  }

  clear(s: number): void {
    const w = this.words;
    for (let i = s * this.perSet, end = i + this.perSet; i < end; i++) w[i] = 0;
  }

  /**
   * Linear-counting estimate of the distinct values added to a set with `set` bits set, never
   * more than the `added` values put in.
   */
  estimate(set: number, added: number): number {
    const e = set >= this.bits ? this.bits * Math.log(this.bits) : -this.bits * Math.log(1 - set / this.bits);
    return Math.min(added, Math.max(set, Math.round(e)));
  }

  get memoryBytes(): number {
    return this.words.byteLength;
  }
}

const HLL_BITS = 6;
const HLL_M = 1 << HLL_BITS; // 64 registers: about 13% standard error, 64 bytes per key
const HLL_ALPHA = 0.709;

/** HyperLogLog sketches, `HLL_M` one-byte registers per key. */
export class Hll {
  readonly regs: Uint8Array;
  static readonly BYTES_PER_KEY = HLL_M;

  constructor(count: number) {
    this.regs = new Uint8Array(count * HLL_M);
  }

  /** Adds hash `h` to sketch `s`; true when a register grew (the estimate may have changed). */
  add(s: number, h: number): boolean {
    const idx = s * HLL_M + (h >>> (32 - HLL_BITS));
    const rest = (h << HLL_BITS) | (1 << (HLL_BITS - 1)); // a guard bit bounds the rank
    const rank = Math.clz32(rest) + 1;
    if (rank <= this.regs[idx]!) return false;
    this.regs[idx] = rank;
    return true;
  }

  clear(s: number): void {
    const r = this.regs;
    for (let i = s * HLL_M, end = i + HLL_M; i < end; i++) r[i] = 0;
  }

  estimate(s: number): number {
    let sum = 0;
    let zeros = 0;
    const base = s * HLL_M;
    for (let i = 0; i < HLL_M; i++) {
      const r = this.regs[base + i]!;
      sum += 1 / (1 << r);
      if (r === 0) zeros++;
    }
    const e = (HLL_ALPHA * HLL_M * HLL_M) / sum;
    // Small range: linear counting over the empty registers is far more accurate.
    if (e <= 2.5 * HLL_M && zeros > 0) return Math.round(HLL_M * Math.log(HLL_M / zeros));
    return Math.round(e);
  }

  get memoryBytes(): number {
    return this.regs.byteLength;
  }
}

/**
 * LRU slack of the scan detectors' tables (see KeyTable): their windows are seconds to hours, so
 * last-seen times exact to a quarter second cost nothing in accuracy.
 */
export const TABLE_SLACK = 0.25;

/** Zeroes `n` values of a record from `b` (a loop: the builtin fill costs more for a few values). */
export function zero(v: Float64Array, b: number, n: number): void {
  for (let i = b, end = b + n; i < end; i++) v[i] = 0;
}
