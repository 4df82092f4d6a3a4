// The track stage: a bounded, bidirectional flow table. Each TCP, UDP or ICMP-echo packet is
// mapped to its flow (5-tuple, direction-independent), and the flow's per-direction packet,
// byte, payload and TCP-flag tallies are updated. The packet learns its flow slot, its direction
// (0 = from the initiator) and whether it opened the flow. Idle flows expire on packet time, a
// TCP flow that has ended is released soon after, and when the table is full the least recently
// used flow is evicted.

import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import { FE, PF, TCP, type Packet } from '../core/packet.js';

export interface FlowConfig {
  /** Seconds of packet time a flow may stay idle. */
  timeout: number;
  /** Seconds a closed TCP flow (RST, or FIN both ways) stays before it is released. */
  closedTimeout: number;
  /** IPv4 flows held at most; IPv6 flows get half as many (memory is allocated up front). */
  maxFlows: number;
}

/** Bits of a flow's state. */
export const FS = {
  /** The initiator is the key's first endpoint. */
  CLIENT_IS_A: 1,
  /** The flow was first seen mid-stream (no SYN from the initiator). */
  MIDSTREAM: 2,
  /** A TCP flow that has ended: RST seen, or FIN seen in both directions. */
  CLOSED: 4,
} as const;

// Per-flow values, stored in the key table's record next to the key.
const V_FIRST = 0;
const V_PKTS = 1; // + dir
const V_BYTES = 3; // + dir
const V_PAYLOAD = 5; // + dir
const V_META = 7; // tcp flags dir 0 | tcp flags dir 1 << 8 | state << 16 | proto << 24
const V_AUX = 8; // one reader's value for the flow (0 when the flow opens): see aux()
const V_AUX2 = 9; // a second reader's: see aux2() (an IPv4 record stays within 128 bytes)
const V_COUNT = 10;

export class FlowTable {
  /**
   * IPv4 flows are keyed by 4 words (addresses, ports, protocol), IPv6 flows by 10. Flow slots
   * number the IPv4 table's slots first, then the IPv6 table's (offset by `v6Base`).
   */
  private readonly t4: KeyTable;
  private readonly t6: KeyTable;
  private readonly v6Base: number;
  private readonly timeout: number;
  private readonly closedTimeout: number;
  /** Closed flows waiting for release, oldest first: a ring of slots and the time each closed. */
  private readonly closing: Int32Array;
  private readonly closedAt: Float64Array;
  private closeHead = 0;
  private closeCount = 0;
  created = 0;
  released = 0;

  constructor(
    cfg: FlowConfig,
    private readonly clock: Clock,
  ) {
    this.timeout = cfg.timeout;
    this.closedTimeout = cfg.closedTimeout;
    // Last-seen times may lag by a small part of the shortest timeout (see KeyTable).
    const slack = Math.min(cfg.timeout, cfg.closedTimeout) / 16;
    // Flow records fill up under load: map them now, not a page fault at a time in the packet path.
    this.t4 = new KeyTable(4, cfg.maxFlows, clock, V_COUNT, slack, true);
    this.t6 = new KeyTable(10, Math.max(1024, cfg.maxFlows >> 1), clock, V_COUNT, slack, true);
    this.v6Base = this.t4.capacity;
    const slots = (this.slots = this.t4.capacity + this.t6.capacity);
    this.closing = new Int32Array(slots);
    this.closedAt = new Float64Array(slots);
  }

  /** Flow slots in all (IPv4 and IPv6): readers keep per-flow values in arrays of this length. */
  readonly slots: number;

  /** Flows currently held. */
  get size(): number {
    return this.t4.size + this.t6.size;
  }

  private tableOf(slot: number): KeyTable {
    return slot < this.v6Base ? this.t4 : this.t6;
  }

  private value(slot: number, i: number): number {
    const t = this.tableOf(slot);
    return t.vals[t.valBase(slot < this.v6Base ? slot : slot - this.v6Base) + i]!;
  }

  /**
   * A value a detector keeps with the flow, in the flow's own record (already in cache when its
   * packet is handled): 0 when the flow opens. One reader (the flood detector: its victim slot).
   */
  aux(slot: number): number {
    return this.value(slot, V_AUX);
  }
  setAux(slot: number, x: number): void {
    const t = this.tableOf(slot);
    t.vals[t.valBase(slot < this.v6Base ? slot : slot - this.v6Base) + V_AUX] = x;
  }

  /** The second reader's value (the brute-force detector: its per-flow state), 0 when the flow opens. */
  aux2(slot: number): number {
    return this.value(slot, V_AUX2);
  }
  setAux2(slot: number, x: number): void {
    const t = this.tableOf(slot);
    t.vals[t.valBase(slot < this.v6Base ? slot : slot - this.v6Base) + V_AUX2] = x;
  }

  /** Time the flow's first packet was seen. */
  first(slot: number): number {
    return this.value(slot, V_FIRST);
  }
  /** Packets, wire bytes and transport payload bytes in direction `dir` (0: from the initiator). */
  pkts(slot: number, dir: number): number {
    return this.value(slot, V_PKTS + dir);
  }
  bytes(slot: number, dir: number): number {
    return this.value(slot, V_BYTES + dir);
  }
  payload(slot: number, dir: number): number {
    return this.value(slot, V_PAYLOAD + dir);
  }
  /** OR of the TCP flags seen in direction `dir`. */
  tcpFlags(slot: number, dir: number): number {
    return (this.value(slot, V_META) >>> (dir << 3)) & 0xff;
  }
  /** FS bits. */
  state(slot: number): number {
    return (this.value(slot, V_META) >>> 16) & 0xff;
  }
  proto(slot: number): number {
    return this.value(slot, V_META) >>> 24;
  }
  lastSeen(slot: number): number {
    return slot < this.v6Base ? this.t4.lastSeen(slot) : this.t6.lastSeen(slot - this.v6Base);
  }

  /** Maps the packet to its flow and updates the flow. Packets without ports are not tracked. */
  update(p: Packet): void {
    const f = p.flags;
    let sport: number;
    let dport: number;
    if ((f & (PF.TCP | PF.UDP)) !== 0) {
      sport = p.sport;
      dport = p.dport;
    } else if ((f & (PF.ICMP4 | PF.ICMP6)) !== 0) {
      const t = p.icmpType;
      // Echo request and reply share the identifier: one flow per ping session.
      if (t !== 8 && t !== 0 && t !== 128 && t !== 129) return;
      sport = p.icmpId;
      dport = p.icmpId;
    } else {
      return;
    }
    let srcIsA: boolean;
    if (p.src3 !== p.dst3) srcIsA = p.src3 < p.dst3;
    else if (p.src0 !== p.dst0) srcIsA = p.src0 < p.dst0;
    else if (p.src1 !== p.dst1) srcIsA = p.src1 < p.dst1;
    else if (p.src2 !== p.dst2) srcIsA = p.src2 < p.dst2;
    else srcIsA = sport <= dport;
    let t: KeyTable;
    let ts: number;
    if ((f & PF.V6) === 0) {
      t = this.t4;
      const k = t.key;
      if (srcIsA) {
        k[0] = p.src3;
        k[1] = p.dst3;
        k[2] = (sport << 16) | dport;
      } else {
        k[0] = p.dst3;
        k[1] = p.src3;
        k[2] = (dport << 16) | sport;
      }
      k[3] = p.ipProto;
      ts = t.get();
      p.flowSlot = ts;
    } else {
      t = this.t6;
      const k = t.key;
      if (srcIsA) {
        k[0] = p.src0;
        k[1] = p.src1;
        k[2] = p.src2;
        k[3] = p.src3;
        k[4] = p.dst0;
        k[5] = p.dst1;
        k[6] = p.dst2;
        k[7] = p.dst3;
        k[8] = (sport << 16) | dport;
      } else {
        k[0] = p.dst0;
        k[1] = p.dst1;
        k[2] = p.dst2;
        k[3] = p.dst3;
        k[4] = p.src0;
        k[5] = p.src1;
        k[6] = p.src2;
        k[7] = p.src3;
        k[8] = (dport << 16) | sport;
      }
      k[9] = p.ipProto;
      ts = t.get();
      p.flowSlot = ts + this.v6Base;
    }
    const v = t.vals;
    const b = t.valBase(ts);
    let meta: number;
    if (t.isNew) {
      this.created++;
      // The sender is the initiator, except for a reply seen first (SYN-ACK or echo reply).
      const tf = p.tcpFlags;
      const isTcp = (f & PF.TCP) !== 0;
      const reply = isTcp ? (tf & (TCP.SYN | TCP.ACK)) === (TCP.SYN | TCP.ACK) : p.icmpType === 0 || p.icmpType === 129;
      let st = srcIsA !== reply ? FS.CLIENT_IS_A : 0;
      if (isTcp && (tf & (TCP.SYN | TCP.ACK)) !== TCP.SYN) st |= FS.MIDSTREAM;
      meta = (st << 16) | (p.ipProto << 24);
      v[b + V_FIRST] = this.clock.now;
      v[b + 1] = 0;
      v[b + 2] = 0;
      v[b + 3] = 0;
      v[b + 4] = 0;
      v[b + 5] = 0;
      v[b + 6] = 0;
      v[b + V_AUX] = 0;
      v[b + V_AUX2] = 0;
      p.flowEv = FE.NEW;
    } else {
      meta = v[b + V_META]! | 0;
    }
    const dir = srcIsA === ((meta & (FS.CLIENT_IS_A << 16)) !== 0) ? 0 : 1;
    p.flowDir = dir;
    const n = ++v[b + V_PKTS + dir]!;
    p.flowPkts = n;
    if (n === 1 && dir === 1) p.flowEv |= FE.FIRST_REPLY;
    v[b + V_BYTES + dir] += p.wirelen;
    if (p.payLen > 0) v[b + V_PAYLOAD + dir] += p.payLen;
    const tf = p.tcpFlags;
    meta = (meta | (tf << (dir << 3))) >>> 0;
    if ((tf & (TCP.RST | TCP.FIN)) !== 0 && (f & PF.TCP) !== 0 && (meta & (FS.CLOSED << 16)) === 0) {
      if ((tf & TCP.RST) !== 0 || (meta & TCP.FIN & (meta >>> 8)) !== 0) {
        meta = (meta | (FS.CLOSED << 16)) >>> 0;
        p.flowEv |= FE.CLOSED;
        this.pushClosed(p.flowSlot, this.clock.now);
      }
    }
    v[b + V_META] = meta;
  }

  private pushClosed(slot: number, at: number): void {
    const n = this.closing.length;
    if (this.closeCount === n) {
      // Full: forget the oldest entry; its flow will still time out.
      this.closeHead = (this.closeHead + 1) % n;
      this.closeCount--;
    }
    const i = (this.closeHead + this.closeCount) % n;
    this.closing[i] = slot;
    this.closedAt[i] = at;
    this.closeCount++;
  }

  /** Releases closed flows that have been quiet for the closed timeout. */
  private releaseClosed(now: number): number {
    const cutoff = now - this.closedTimeout;
    const n = this.closing.length;
    let released = 0;
    while (this.closeCount > 0 && this.closedAt[this.closeHead]! <= cutoff) {
      const slot = this.closing[this.closeHead]!;
      this.closeHead = (this.closeHead + 1) % n;
      this.closeCount--;
      const t = this.tableOf(slot);
      const ts = slot < this.v6Base ? slot : slot - this.v6Base;
      // The slot may have been released and reused by another flow since.
      if (!t.isLive(ts) || ((t.vals[t.valBase(ts) + V_META]! >>> 16) & FS.CLOSED) === 0) continue;
      const last = t.lastSeen(ts);
      if (last <= cutoff) {
        t.delete(ts);
        released++;
      } else {
        this.pushClosed(slot, last);
      }
    }
    this.released += released;
    return released;
  }

  /** Releases closed flows and expires idle ones; returns how many went. */
  expire(now: number): number {
    return this.releaseClosed(now) + this.t4.expire(now - this.timeout) + this.t6.expire(now - this.timeout);
  }

  get memoryBytes(): number {
    return this.t4.memoryBytes + this.t6.memoryBytes + this.closing.byteLength + this.closedAt.byteLength;
  }

  stats(): Record<string, number> {
    return {
      active: this.size,
      created: this.created,
      expired: this.t4.expired + this.t6.expired,
      closed_released: this.released,
      evicted: this.t4.evicted + this.t6.evicted,
      memuse: this.memoryBytes,
    };
  }

  clear(): void {
    this.t4.clear();
    this.t6.clear();
    this.closeCount = 0;
  }
}
