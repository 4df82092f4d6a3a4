// Notices and decisions: what a detector reports and what the policy makes of it. These are the
// only objects built per detection (never per packet); strings are formatted later, on output.

import type { IpAddr } from './addr.js';

export type Severity = 1 | 2 | 3;

/** A detector's report: what it saw, from whom, with the evidence that made it fire. */
export interface Notice {
  /** Sequence number within the engine run, set by the queue. */
  id: number;
  /** What was detected, e.g. "syn_rate" or "syn_scan". */
  kind: string;
  /** The detector that raised it. */
  detector: string;
  /** Packet time of the packet that completed the evidence. */
  tsSec: number;
  tsNsec: number;
  src: IpAddr;
  dst: IpAddr | null;
  srcPort: number;
  dstPort: number;
  /** IP protocol number of the triggering packet (6, 17, 1, 58), 0 when not applicable. */
  proto: number;
  /** 1 is the most severe, as in Suricata. */
  severity: Severity;
  signatureId: number;
  signature: string;
  category: string;
  /** Detector-specific facts: counts, windows, first/last seen (seconds), ports, fingerprints. */
  evidence: Record<string, unknown>;
}

export type Action = 'alert' | 'ignore';

/** The policy's verdict on a notice. */
export interface Decision {
  action: Action;
  notice: Notice;
  /** Why this action: e.g. "policy", "trusted 127.0.0.0/8", "suppressed". */
  reason: string;
  /** How long the verdict stands (seconds), e.g. the block duration. */
  duration: number;
}

/** Collects notices raised while processing a packet or a tick; the pipeline drains it. */
export class NoticeQueue {
  readonly items: Notice[] = [];
  private seq = 0;

  push(n: Omit<Notice, 'id'>): void {
    (n as Notice).id = ++this.seq;
    this.items.push(n as Notice);
  }

  get length(): number {
    return this.items.length;
  }

  /** Returns the queued notices and empties the queue. */
  drain(): Notice[] {
    return this.items.splice(0, this.items.length);
  }
}
