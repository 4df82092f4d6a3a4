// The operator's actions (status, list, ban, unban, history, alerts, top), one implementation for
// both the running daemon (over the control socket) and the CLI working on the database when no
// daemon runs. A manual ban goes through the same policy as a detector's, so protected addresses
// are refused with their reason; it is stored and put in the firewall like any other, and its
// answer carries what the firewall did with it (`enforcement`), so success is never claimed for a
// change that failed.

import { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import type { Ban, Enforcement, Lift } from '../core/notice.js';
import { capText, MAX_REASON } from '../core/text.js';
import type { Policy } from '../decide/policy.js';
import type { Enforcer } from '../enforce/enforcer.js';
import type { NoticeRow, StateStore } from '../state/store.js';

export interface BanView {
  scope: string;
  since: string;
  until: string;
  remaining: number;
  reason: string;
  kind: string;
  offence: number;
  origin: string;
  /** For a ban or unban just made: what the firewall did with it (absent: no firewall). */
  enforcement?: Enforcement;
}

/**
 * Learns what became of the firewall change for `key` once it was queued: `applied`, `failed`
 * (with the tool's error), `quarantined`. The daemon passes one built on the Enforcer's per-op
 * results; without it the Operator flushes the enforcer and reads its health.
 */
export type AppliedHook = (key: string, op: 'add' | 'del') => Promise<Enforcement>;

export interface OperatorOptions {
  /** Wall seconds. */
  now?: () => number;
  applied?: AppliedHook;
  /** Told of each ban an operator made and each lift it caused (the daemon's audit trail). */
  onBan?: (b: Ban) => void;
  onLift?: (l: Lift) => void;
}

const DATE_MAX = 8.64e12; // seconds: the Date range, either side of 1970

/** ISO time of Unix seconds, clamped to the Date range (a stored value out of range never throws). */
export const iso = (t: number): string => new Date(Number.isFinite(t) ? Math.max(-DATE_MAX, Math.min(DATE_MAX, t)) * 1000 : 0).toISOString();

export function banView(b: Ban, now: number): BanView {
  return {
    scope: b.scope.toShortString(),
    since: iso(b.since),
    until: iso(b.until),
    remaining: Math.max(0, Math.round(Math.min(b.until - now, Number.MAX_SAFE_INTEGER))),
    reason: b.reason,
    kind: b.kind,
    offence: b.offence,
    origin: b.origin,
  };
}

/** An address or CIDR as the operator typed it; a bare address is its host prefix. */
export function parseTarget(text: string): Cidr {
  const c = Cidr.parse(text.trim());
  if (!c) throw new PalisadeError('PAL_ERR_USAGE', `${JSON.stringify(text)} is not an IP address or CIDR (e.g. 198.51.100.7, 2001:db8::/64)`);
  return Cidr.of(c.addr, c.prefix);
}

/** Evidence as stored: parsed JSON, or the raw text when it is not JSON. */
function evidence(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** A notice row for the operator's eyes. */
export function noticeView(n: NoticeRow): Record<string, unknown> {
  return { time: iso(n.ts), src: n.src, kind: n.kind, severity: n.severity, signature: n.signature, dest: n.dst, action: n.action, reason: n.reason, evidence: evidence(n.evidence) };
}

export interface AlertsRequest {
  /** Seconds back from now (null: all). */
  since: number | null;
  kind: string | null;
  limit: number;
}

export class Operator {
  readonly now: () => number;
  private readonly applied: AppliedHook | null;
  private readonly onBan: ((b: Ban) => void) | null;
  private readonly onLift: ((l: Lift) => void) | null;

  constructor(
    readonly policy: Policy,
    readonly store: StateStore | null,
    readonly enforcer: Enforcer | null,
    /** Wall seconds, or the options. */
    opts: (() => number) | OperatorOptions = {},
  ) {
    const o = typeof opts === 'function' ? { now: opts } : opts;
    this.now = o.now ?? (() => Date.now() / 1000);
    this.applied = o.applied ?? null;
    this.onBan = o.onBan ?? null;
    this.onLift = o.onLift ?? null;
  }

  list(): BanView[] {
    const now = this.now();
    return this.policy
      .active()
      .filter((b) => b.until > now)
      .sort((a, b) => a.since - b.since)
      .map((b) => banView(b, now));
  }

  /**
   * Bans `target` for `seconds` (null: the policy's duration for this offence). The answer's
   * `enforcement` says whether the firewall has it; the ban is recorded either way (the daemon
   * retries, and applies it at its next start).
   */
  async ban(target: string, seconds: number | null, reason: string | null): Promise<BanView> {
    const scope = parseTarget(target);
    const now = this.now();
    const r = this.policy.ban(scope, { duration: seconds, reason: capText(reason ?? 'operator', MAX_REASON), kind: 'operator', noticeIds: [], origin: 'operator' }, now);
    if (!r.ban) throw new PalisadeError(r.refused!.startsWith('not banned') ? 'PAL_ERR_PROTECTED' : 'PAL_ERR_USAGE', `${scope.toShortString()}: ${r.refused}`);
    this.applyLifts(r.lifted);
    // An operator re-banning a scope in force replaces it: the old row is closed as superseded.
    this.store?.recordBan(r.ban);
    this.onBan?.(r.ban);
    this.enforcer?.ban(r.ban);
    const view = banView(r.ban, now);
    const e = await this.enforcement(r.ban.key, 'add');
    return e ? { ...view, enforcement: e } : view;
  }

  /** Lifts every ban overlapping `target`; each answer carries its `enforcement` (see `ban`). */
  async unban(target: string): Promise<BanView[]> {
    const scope = parseTarget(target);
    const now = this.now();
    const lifts = this.policy.unban(scope, now, 'operator');
    this.applyLifts(lifts);
    // Every answer is asked for before any is awaited: the deletes may apply in one batch.
    const answers = await Promise.all(lifts.map((l) => this.enforcement(l.ban.key, 'del')));
    const views = lifts.map((l, i) => {
      const e = answers[i];
      return e ? { ...banView(l.ban, now), enforcement: e } : banView(l.ban, now);
    });
    if (lifts.length === 0) await this.enforcer?.flush();
    return views;
  }

  /** The firewall's answer for a change just queued, or null when there is no firewall. */
  private async enforcement(key: string, op: 'add' | 'del'): Promise<Enforcement | null> {
    if (this.applied) return this.applied(key, op);
    const enf = this.enforcer;
    if (!enf) return null;
    await enf.flush();
    if (enf.healthy) return { status: 'applied' };
    const err = enf.metrics().last_error;
    return { status: 'failed', error: typeof err === 'string' ? err : 'the firewall is unavailable' };
  }

  private applyLifts(lifts: readonly Lift[]): void {
    for (const l of lifts) {
      this.store?.recordLift(l);
      this.onLift?.(l);
      this.enforcer?.lift(l);
    }
  }

  history(target: string): { target: string; bans: unknown[]; notices: unknown[] } {
    const scope = parseTarget(target);
    if (!this.store) return { target: scope.toShortString(), bans: [], notices: [] };
    const h = this.store.history(scope);
    return {
      target: scope.toShortString(),
      bans: h.bans.map((b) => ({
        scope: Cidr.parse(b.scope)!.toShortString(),
        since: iso(b.since),
        until: iso(b.until),
        reason: b.reason,
        kind: b.kind,
        offence: b.offence,
        origin: b.origin,
        lifted: b.lifted_at === null ? null : { at: iso(b.lifted_at), reason: b.lift_reason },
      })),
      notices: h.notices.map(noticeView),
    };
  }

  /** Recent alerts and bans from the database, newest first (`since`: seconds back from now). */
  alerts(q: AlertsRequest): Record<string, unknown>[] {
    if (!this.store) return [];
    return this.store.alerts({ since: q.since === null ? null : this.now() - q.since, kind: q.kind, limit: q.limit }).map(noticeView);
  }

  /** Sources by notices (then bans) from the database (`since`: seconds back from now). */
  top(q: { since: number | null; limit: number }): { src: string; notices: number; bans: number; last: string }[] {
    if (!this.store) return [];
    return this.store.top({ since: q.since === null ? null : this.now() - q.since, limit: q.limit }).map((r) => ({ ...r, last: iso(r.last) }));
  }

  /** Why an address may not be banned, or null. */
  protectedWhy(target: string): string | null {
    return this.policy.protect.why(parseTarget(target));
  }
}
