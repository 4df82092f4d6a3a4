// The shared shape of a detector built on one windowed KeyTable: its records expire a window
// after their last packet, nothing waits for the end of input, and its stats are the table's.

import type { NoticeQueue } from '../core/notice.js';
import type { Clock } from '../core/clock.js';
import type { KeyTable } from '../core/key-table.js';
import type { Packet } from '../core/packet.js';
import type { Detector, DetectorStats } from './detector.js';

export abstract class TableDetector implements Detector {
  abstract readonly name: string;
  protected fired = 0;

  constructor(
    protected readonly table: KeyTable,
    /** Seconds a record outlives its last packet. */
    private readonly expiry: number,
  ) {}

  abstract onPacket(p: Packet, clock: Clock, out: NoticeQueue): void;

  /**
   * The record of the packet's source (with `withDst`, of its source and destination), its
   * window restarted when `window` has passed since it began; returns its slot.
   */
  protected openRecord(p: Packet, withDst: boolean, window: number): number {
    const t = this.table;
    const k = t.key;
    k[0] = p.src0;
    k[1] = p.src1;
    k[2] = p.src2;
    k[3] = p.src3;
    if (withDst) {
      k[4] = p.dst0;
      k[5] = p.dst1;
      k[6] = p.dst2;
      k[7] = p.dst3;
    }
    const s = t.get();
    t.restartWindow(s, window);
    return s;
  }

  onTick(now: number, _out?: NoticeQueue): void {
    this.table.expire(now - this.expiry);
  }

  onFinish(_now?: number, _out?: NoticeQueue): void {}

  stats(): DetectorStats {
    return { tracked: this.table.size, memuse: this.table.memoryBytes, evicted: this.table.evicted, fired: this.fired };
  }

  clear(): void {
    this.table.clear();
  }
}
