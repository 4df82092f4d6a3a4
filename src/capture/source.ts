// The capture-stage contract: a packet source fills the reused Packet and calls the pipeline's
// callback once per packet, in capture order, until its input ends or stop() is called.

import type { Packet } from '../core/packet.js';

export interface CaptureStats {
  /** Packets delivered to the pipeline. */
  packets: number;
  /** Input bytes read (file sources) or captured bytes (live). */
  bytes: number;
  /** Packets the kernel received / dropped for lack of buffer / the interface dropped (live, or pcapng ISB). */
  kernelPackets: number;
  kernelDrops: number;
  kernelIfDrops: number;
  /** Packets the kernel delivered that Palisade's own ring had no room for (live; see capture/live.ts). */
  ringDrops: number;
  /** Records cut short at the end of the input (a capture killed mid-write). */
  truncatedRecords: number;
  /** Packets skipped because their record could not be delivered (oversized, unknown interface). */
  skippedRecords: number;
  /** Packets whose timestamp was impossible (negative, not finite, or beyond 2^32 s); they keep the previous packet's time. */
  badTimestamps: number;
}

export interface PacketSource {
  /** A name for messages: the file path, "-" for stdin, or the interface. */
  readonly name: string;
  /** "pcap", "pcapng" or "live"; known once run() has started. */
  readonly format: string;
  /** Link types seen (one per pcapng interface). */
  readonly linktypes: readonly number[];
  /** Total input size in bytes when known (regular files), for progress; 0 otherwise. */
  readonly size: number;
  /** Non-fatal, located problems met while reading (e.g. a truncated final record). */
  readonly warnings: readonly string[];
  /**
   * Delivers every packet: fills `p` and calls `onPacket()`. `onChunk` is called between batches
   * (the moment to refresh progress or flush outputs). Resolves when the input ends or after stop().
   */
  run(p: Packet, onPacket: () => void, onChunk?: () => void): Promise<void>;
  /** Asks run() to return after the current packet. */
  stop(): void;
  stats(): CaptureStats;
}

export function emptyCaptureStats(): CaptureStats {
  return { packets: 0, bytes: 0, kernelPackets: 0, kernelDrops: 0, kernelIfDrops: 0, ringDrops: 0, truncatedRecords: 0, skippedRecords: 0, badTimestamps: 0 };
}
