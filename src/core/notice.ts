// Notices and decisions: what a detector reports and what the policy makes of it. These are the
// only objects built per detection (never per packet); strings are formatted later, on output.

import type { Cidr, IpAddr } from './addr.js';

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
  /** A flood's lifecycle (flood notices only): see FloodInfo. */
  flood?: FloodInfo;
  /**
   * Why the notice's source must not be banned whatever the policy says (a spoofed flood's top
   * source is somebody else's address), or null / absent.
   */
  noBan?: string | null;
}

/**
 * A flood's lifecycle, carried by its notices. `start` is an alert; `update` (periodic, with the
 * peak so far) and `end` (after the hold time under the threshold) are flood events, not alerts;
 * `source` is the alert of one proven source sending a large share of it (banned by policy).
 */
export interface FloodInfo {
  phase: 'start' | 'update' | 'end' | 'source';
  /** Flood number within the run: the notices of one flood share it. */
  id: number;
  kind: string;
  victim: IpAddr;
  /** The victim port most of the flood goes to, 0 when none dominates (or not applicable). */
  port: number;
  /** True while the sources are spoofed or too many to ban: a firewall mitigation should be in force. */
  mitigate: boolean;
  /** Rates over the last second, and the peaks (packets and bits a second). */
  pps: number;
  bps: number;
  peakPps: number;
  peakBps: number;
}

/** `ban`: block the source; `alert`: report only; `ignore`: neither (trusted noise, repeats). */
export type Action = 'ban' | 'alert' | 'ignore';

/**
 * Where a ban came from: a detector's notice, an operator's command, a threat-intelligence feed,
 * or an element found in the firewall that no stored ban explains (adopted at start).
 */
export type BanOrigin = 'detector' | 'operator' | 'feed' | 'firewall';

/** A block on a prefix for a time: what enforce puts in the kernel and state keeps. */
export interface Ban {
  /** The blocked prefix: the source itself, or its /n (IPv6 bans default to the /64). */
  scope: Cidr;
  /** `scope` as text: the key for maps, the database and the firewall. */
  key: string;
  /** Ban start and end, in engine seconds (packet time; wall time when live). */
  since: number;
  until: number;
  reason: string;
  /** The notice kind that caused it ("operator" for manual bans). */
  kind: string;
  /** The notices that caused it (engine notice ids; the database maps them to its rows). */
  noticeIds: number[];
  /** 1 for a first offence, 2 for the next, ...: the escalation step. */
  offence: number;
  origin: BanOrigin;
}

/**
 * Why a ban ended before or at its time. `protected`: a restored ban that now covers a protected
 * address (the host's facts changed). `quarantined`: the firewall refused the element itself
 * (found by bisecting a failed batch), so it was set aside and the rest applied.
 */
export type LiftReason = 'expired' | 'operator' | 'superseded' | 'protected' | 'quarantined';

export interface Lift {
  ban: Ban;
  reason: LiftReason;
  at: number;
}

/** The policy's verdict on a notice. */
export interface Decision {
  action: Action;
  notice: Notice;
  /** Why this action: e.g. "policy", "trusted 127.0.0.0/8", "suppressed". */
  reason: string;
  /** How long the verdict stands (seconds), e.g. the ban duration. */
  duration: number;
  /** The ban this decision made (action `ban`), else null. */
  ban: Ban | null;
  /** Why the source may never be banned (trusted, own address, gateway, ...), else null. */
  protectedBy: string | null;
  /**
   * What became of a ban in the firewall, once known: set by the daemon before a ban's alert is
   * written. Absent: not enforced (replay, or no ban). The alert says "blocked" only when applied.
   */
  enforcement?: Enforcement;
  /** The configured ban scope this decision's ban was narrowed from (to leave out a protected address), and why. */
  narrowedFrom?: Cidr | null;
  narrowedBecause?: string | null;
}

/**
 * A ban's application result. `applied`: the kernel holds the element. `failed`: the firewall
 * change failed (it is retried; `error` says why). `quarantined`: the firewall refused this
 * element itself; it was set aside. `dry-run`: nothing is ever applied.
 */
export interface Enforcement {
  status: 'applied' | 'failed' | 'quarantined' | 'dry-run';
  error?: string;
}

/**
 * One change in a ban's life, for the audit trail (EVE `ban` events and the log): who did what to
 * which scope, until when, and why. Times are engine seconds (wall time when live).
 */
export interface BanEvent {
  /**
   * `banned`: a ban was decided (by a detector, an operator, a feed). `applied` / `failed` /
   * `quarantined`: its firewall result. `lifted`: it ended (see `reason`). `restored`: brought back
   * from the database at start. `adopted`: a firewall element no stored ban explains was kept.
   * `refreshed`: re-applied because the kernel's timeout was capped or drifted. `narrowed`: the
   * scope was narrowed to leave a protected address out.
   */
  action: 'banned' | 'applied' | 'failed' | 'quarantined' | 'lifted' | 'restored' | 'adopted' | 'refreshed' | 'narrowed';
  /** Who: detector, operator, feed, firewall (the kernel's own expiry or refusal), daemon. */
  by: 'detector' | 'operator' | 'feed' | 'firewall' | 'daemon';
  scope: string;
  /** Ban end (engine seconds), or null when not applicable. */
  until: number | null;
  /** Why: the ban's reason, a lift reason, or an error message. */
  reason: string;
  at: number;
  kind?: string;
  offence?: number;
  origin?: BanOrigin;
  error?: string;
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
