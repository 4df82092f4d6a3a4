// Small fixed-size sketches over typed arrays, for detectors that must stay bounded under traffic
// with random (spoofed) sources: Misra-Gries heavy-hitter summaries of source addresses and of
// ports (distinct counts are in distinct.ts). No allocation per update.

/** Words per heavy-hitter entry: the four address words, the count and a flag word. */
export const HH_STRIDE = 6;
const HH_COUNT = 4;
const HH_FLAG = 5;

/**
 * Counts one packet from the address `w0..w3` in the Misra-Gries summary of `k` entries at `a[at]`.
 * Returns the entry's index (0..k-1), or -1 when the address holds no entry (every count was
 * decremented instead). An address that sends more than 1/(k+1) of the packets always holds one.
 */
export function hhAdd(a: Int32Array, at: number, k: number, w0: number, w1: number, w2: number, w3: number): number {
  let free = -1;
  for (let i = 0; i < k; i++) {
    const e = at + i * HH_STRIDE;
    if (a[e + HH_COUNT] === 0) {
      if (free < 0) free = i;
      continue;
    }
    if (a[e + 3] === w3 && a[e] === w0 && a[e + 1] === w1 && a[e + 2] === w2) {
      a[e + HH_COUNT]++;
      return i;
    }
  }
  if (free >= 0) {
    const e = at + free * HH_STRIDE;
    a[e] = w0;
    a[e + 1] = w1;
    a[e + 2] = w2;
    a[e + 3] = w3;
    a[e + HH_COUNT] = 1;
    a[e + HH_FLAG] = 0;
    return free;
  }
  for (let i = 0; i < k; i++) a[at + i * HH_STRIDE + HH_COUNT]--;
  return -1;
}

/** The entry index holding `w0..w3`, or -1. */
export function hhFind(a: Int32Array, at: number, k: number, w0: number, w1: number, w2: number, w3: number): number {
  for (let i = 0; i < k; i++) {
    const e = at + i * HH_STRIDE;
    if (a[e + HH_COUNT] !== 0 && a[e + 3] === w3 && a[e] === w0 && a[e + 1] === w1 && a[e + 2] === w2) return i;
  }
  return -1;
}

export const hhCount = (a: Int32Array, at: number, i: number): number => a[at + i * HH_STRIDE + HH_COUNT]!;
export const hhFlags = (a: Int32Array, at: number, i: number): number => a[at + i * HH_STRIDE + HH_FLAG]!;
export function hhSetFlag(a: Int32Array, at: number, i: number, bit: number): void {
  a[at + i * HH_STRIDE + HH_FLAG]! |= bit;
}

/** Halves every count (ageing between windows, so the summary follows the current traffic). */
export function hhDecay(a: Int32Array, at: number, k: number): void {
  for (let i = 0; i < k; i++) a[at + i * HH_STRIDE + HH_COUNT] = a[at + i * HH_STRIDE + HH_COUNT]! >> 1;
}

/** Words per port entry: port, count. */
export const PORT_STRIDE = 2;

/** Misra-Gries over ports (`k` entries of [port, count] at `a[at]`). */
export function portAdd(a: Int32Array, at: number, k: number, port: number): void {
  let free = -1;
  for (let i = 0; i < k; i++) {
    const e = at + i * PORT_STRIDE;
    if (a[e + 1] === 0) {
      if (free < 0) free = i;
    } else if (a[e] === port) {
      a[e + 1]++;
      return;
    }
  }
  if (free >= 0) {
    a[at + free * PORT_STRIDE] = port;
    a[at + free * PORT_STRIDE + 1] = 1;
    return;
  }
  for (let i = 0; i < k; i++) a[at + i * PORT_STRIDE + 1]--;
}

/** The entry with the highest count: [port, count], or [0, 0]. */
export function portTop(a: Int32Array, at: number, k: number): [number, number] {
  let best = -1;
  for (let i = 0; i < k; i++) if (a[at + i * PORT_STRIDE + 1]! > 0 && (best < 0 || a[at + i * PORT_STRIDE + 1]! > a[at + best * PORT_STRIDE + 1]!)) best = i;
  return best < 0 ? [0, 0] : [a[at + best * PORT_STRIDE]!, a[at + best * PORT_STRIDE + 1]!];
}

export function portDecay(a: Int32Array, at: number, k: number): void {
  for (let i = 0; i < k; i++) a[at + i * PORT_STRIDE + 1] = a[at + i * PORT_STRIDE + 1]! >> 1;
}
