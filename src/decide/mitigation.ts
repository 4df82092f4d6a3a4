// The mitigation book: which floods get a firewall mitigation and for how long. A flood whose
// sources are spoofed (or too many to ban) asks for one while it lasts (notice `mitigate`); it is
// kept for `hold` after the flood ends, and a flood that comes back before then keeps it. Pure:
// flood notices and time in, what to apply and what to withdraw out; enforce/ does the work.

import type { Notice } from '../core/notice.js';

export interface MitigationRate {
  rate: number;
  burst: number;
}

export interface MitigationPlanConfig {
  enabled: boolean;
  /** Seconds a mitigation stays after its flood ended. */
  hold: number;
  /** syn_flood to one port: a SYN proxy instead of a rate limit. */
  synproxy: boolean;
  /** Packets a second let through per victim (and port), by flood kind. */
  rates: Readonly<Record<string, MitigationRate>>;
  /** The flood detector's baseline factor: a victim's usual rate times this always passes. */
  baselineFactor: number;
  amplifierPorts: readonly number[];
}

/** A mitigation in force (or asked for): what enforce/ applies, and when it ends. */
export interface PlannedMitigation {
  id: string;
  kind: string;
  victim: string;
  port: number | null;
  rate: number;
  burst: number;
  synproxy?: boolean;
  amplifierPorts?: number[];
  /** The flood that asked for it (the latest, when floods came back). */
  floodId: number;
  since: number;
  /** When it is withdrawn (its flood's end plus the hold), or null while the flood lasts. */
  withdrawAt: number | null;
}

/** Kinds whose mitigation is per victim port (when the flood has one). */
const PER_PORT = new Set(['syn_flood', 'udp_flood', 'ack_flood', 'rst_flood']);

export class MitigationPlan {
  private readonly live = new Map<string, PlannedMitigation>();
  /** Flood id to the mitigation it holds. */
  private readonly byFlood = new Map<number, string>();

  constructor(private readonly cfg: MitigationPlanConfig) {}

  /** A flood notice: the mitigation to apply (new, or changed), or null. */
  onFlood(n: Notice, now: number): PlannedMitigation | null {
    const f = n.flood;
    if (!this.cfg.enabled || f === undefined || f.phase === 'source') return null;
    const id0 = this.byFlood.get(f.id);
    if (f.phase === 'end') {
      const m = id0 === undefined ? undefined : this.live.get(id0);
      if (m && m.floodId === f.id) m.withdrawAt = now + this.cfg.hold;
      this.byFlood.delete(f.id);
      return null;
    }
    if (!f.mitigate) return null;
    const port = PER_PORT.has(f.kind) && f.port !== 0 ? f.port : null;
    const victim = f.victim.toString();
    const id = `${f.kind}:${victim}:${port ?? '*'}`;
    const r = this.cfg.rates[f.kind] ?? { rate: 1000, burst: 2000 };
    const baseline = Number((n.evidence as { baseline_pps?: unknown }).baseline_pps ?? 0);
    const rate = Math.max(r.rate, Math.ceil(this.cfg.baselineFactor * (Number.isFinite(baseline) ? baseline : 0)));
    this.byFlood.set(f.id, id);
    const old = this.live.get(id);
    if (old) {
      // The flood came back (or goes on): keep what is in force.
      old.floodId = f.id;
      old.withdrawAt = null;
      return null;
    }
    const m: PlannedMitigation = { id, kind: f.kind, victim, port, rate, burst: Math.max(r.burst, rate), floodId: f.id, since: now, withdrawAt: null };
    if (f.kind === 'syn_flood' && this.cfg.synproxy && port !== null) m.synproxy = true;
    if (f.kind === 'udp_amplification') m.amplifierPorts = [...this.cfg.amplifierPorts];
    this.live.set(id, m);
    return m;
  }

  /** Mitigations whose hold is over: removed from the book, for enforce/ to withdraw. */
  due(now: number): PlannedMitigation[] {
    const out: PlannedMitigation[] = [];
    for (const m of this.live.values()) {
      if (m.withdrawAt !== null && m.withdrawAt <= now) out.push(m);
    }
    for (const m of out) this.live.delete(m.id);
    return out;
  }

  /** Puts back a mitigation whose withdrawal failed: it is due again at the next check. */
  restore(m: PlannedMitigation): void {
    if (!this.live.has(m.id)) this.live.set(m.id, m);
  }

  /** Forgets a mitigation the firewall could not apply (it is asked for again by the next update). */
  drop(id: string): void {
    this.live.delete(id);
  }

  active(): PlannedMitigation[] {
    return [...this.live.values()];
  }

  /** Everything, for shutdown. */
  takeAll(): PlannedMitigation[] {
    const all = [...this.live.values()];
    this.live.clear();
    this.byFlood.clear();
    return all;
  }
}
