// Drop accounting over an interval: how many packets the kernel saw, and how many never reached
// the pipeline (the kernel's ring full, or Palisade's own ring full), as a share of what was seen.

import type { CaptureStats } from './source.js';

export interface DropWindow {
  /** Packets the kernel received in the interval (its count includes those it dropped). */
  seen: number;
  kernelDrops: number;
  ringDrops: number;
  /** (kernel + ring drops) / seen; 0 when nothing was seen. */
  ratio: number;
}

/** The default warning threshold: 0.1% of an interval's packets lost. */
export const DROP_WARN_RATIO = 0.001;

export class DropWatch {
  private prev: CaptureStats | null = null;
  /** The last interval measured, null before the second observation. */
  last: DropWindow | null = null;

  /** Takes a counter snapshot; returns the interval since the previous one. */
  observe(s: CaptureStats): DropWindow | null {
    const p = this.prev;
    this.prev = { ...s };
    if (!p) return null;
    const seen = Math.max(0, s.kernelPackets - p.kernelPackets);
    const kernelDrops = Math.max(0, s.kernelDrops - p.kernelDrops);
    const ringDrops = Math.max(0, s.ringDrops - p.ringDrops);
    const lost = kernelDrops + ringDrops;
    this.last = { seen, kernelDrops, ringDrops, ratio: seen > 0 ? lost / seen : lost > 0 ? 1 : 0 };
    return this.last;
  }

  /** True when the last interval lost more than `ratio` of its packets. */
  lossy(ratio = DROP_WARN_RATIO): boolean {
    return this.last !== null && this.last.ratio > ratio;
  }
}

/** The words for a lossy interval, shared by the log warning and `status`. */
export function describeLoss(w: DropWindow, seconds: number): string {
  return `${(w.ratio * 100).toFixed(2)}% of packets lost in the last ${seconds} s (${w.kernelDrops} by the kernel, ${w.ringDrops} by Palisade's ring)`;
}
