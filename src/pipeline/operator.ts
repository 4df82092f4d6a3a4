// The operator's actions (status, list, ban, unban, history), one implementation for both the
// running daemon (over the control socket) and the CLI working on the database when no daemon
// runs. A manual ban goes through the same policy as a detector's, so protected addresses are
// refused with their reason; it is stored and put in the firewall like any other.

import { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import type { Ban, Lift } from '../core/notice.js';
import type { Policy } from '../decide/policy.js';
import type { Enforcer } from '../enforce/enforcer.js';
import type { StateStore } from '../state/store.js';

export interface BanView {
  scope: string;
  since: string;
  until: string;
  remaining: number;
  reason: string;
  kind: string;
  offence: number;
  origin: string;
}

const iso = (t: number): string => new Date(Math.round(t * 1000)).toISOString();

export function banView(b: Ban, now: number): BanView {
  return {
    scope: b.scope.toShortString(),
    since: iso(b.since),
    until: iso(b.until),
    remaining: Math.max(0, Math.round(b.until - now)),
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

export class Operator {
  constructor(
    readonly policy: Policy,
    readonly store: StateStore | null,
    readonly enforcer: Enforcer | null,
    /** Wall seconds. */
    readonly now: () => number = () => Date.now() / 1000,
  ) {}

  list(): BanView[] {
    const now = this.now();
    return this.policy
      .active()
      .filter((b) => b.until > now)
      .sort((a, b) => a.since - b.since)
      .map((b) => banView(b, now));
  }

  /** Bans `target` for `seconds` (null: the policy's duration for this offence). */
  async ban(target: string, seconds: number | null, reason: string | null): Promise<BanView> {
    const scope = parseTarget(target);
    const now = this.now();
    const r = this.policy.ban(scope, { duration: seconds, reason: reason ?? 'operator', kind: 'operator', noticeIds: [], origin: 'operator' }, now);
    if (!r.ban) throw new PalisadeError(r.refused!.startsWith('not banned') ? 'PAL_ERR_PROTECTED' : 'PAL_ERR_USAGE', `${scope.toShortString()}: ${r.refused}`);
    this.applyLifts(r.lifted);
    // An operator re-banning a scope in force replaces it: the old row is closed as superseded.
    this.store?.recordBan(r.ban);
    this.enforcer?.ban(r.ban);
    await this.enforcer?.flush();
    return banView(r.ban, now);
  }

  async unban(target: string): Promise<BanView[]> {
    const scope = parseTarget(target);
    const now = this.now();
    const lifts = this.policy.unban(scope, now, 'operator');
    this.applyLifts(lifts);
    await this.enforcer?.flush();
    return lifts.map((l) => banView(l.ban, now));
  }

  private applyLifts(lifts: readonly Lift[]): void {
    for (const l of lifts) {
      this.store?.recordLift(l);
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
      notices: h.notices.map((n) => ({
        time: iso(n.ts),
        kind: n.kind,
        severity: n.severity,
        signature: n.signature,
        dest: n.dst,
        action: n.action,
        reason: n.reason,
        evidence: JSON.parse(n.evidence) as unknown,
      })),
    };
  }

  /** Why an address may not be banned, or null. */
  protectedWhy(target: string): string | null {
    return this.policy.protect.why(parseTarget(target));
  }
}

