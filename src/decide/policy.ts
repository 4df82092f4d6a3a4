// The decide stage: turns notices into decisions (ban, alert or ignore) and keeps the book of
// bans in force. Policy comes from config: which kinds ban and at which severity, the ban
// duration with escalation for repeat offenders, the banned prefix, and caps on how many bans a
// minute and in total. Protected addresses (decide/protect.ts) are never banned: a detector's
// scope that would hold one is narrowed around the source, an operator's exact scope is refused.
// No I/O here: enforce/ applies the bans, state/ stores them, and both restore this book on start.

import { Cidr, CidrSet, type IpAddr } from '../core/addr.js';
import type { Action, Ban, BanOrigin, Decision, Lift, LiftReason, Notice } from '../core/notice.js';
import { Expiring } from './expiring.js';
import { Protected, type HostFacts } from './protect.js';

export interface KindRule {
  action?: Action;
  duration?: number;
}

export interface PolicyConfig {
  trusted: CidrSet;
  /** A first offence's ban (seconds). */
  duration: number;
  /** Repeat offences' bans, in order; the last repeats. */
  escalation: readonly number[];
  /** An offence count is forgotten after this long without a ban. */
  forgetAfter: number;
  ipv4Prefix: number;
  ipv6Prefix: number;
  maxPerMinute: number;
  maxActive: number;
  /** Notices at this severity or more severe ban; 0 never. */
  banSeverity: number;
  kinds: Readonly<Record<string, KindRule>>;
}

/** The policy part of the config, as the schema gives it. */
export interface PolicyConfigInput {
  trusted: readonly string[];
  block: {
    duration: number;
    escalation: readonly number[];
    forget_after: number;
    ipv4_prefix: number;
    ipv6_prefix: number;
    max_per_minute: number;
    max_active: number;
  };
  decide: { ban_severity: number; kinds: Readonly<Record<string, KindRule>> };
}

export function policyConfig(c: PolicyConfigInput): PolicyConfig {
  const b = c.block;
  return {
    trusted: CidrSet.parse(c.trusted),
    duration: b.duration,
    escalation: b.escalation,
    forgetAfter: b.forget_after,
    ipv4Prefix: b.ipv4_prefix,
    ipv6Prefix: b.ipv6_prefix,
    maxPerMinute: b.max_per_minute,
    maxActive: b.max_active,
    banSeverity: c.decide.ban_severity,
    kinds: c.decide.kinds,
  };
}

/** An offender's record: how many bans, and when the last began. */
export interface Offence {
  key: string;
  count: number;
  last: number;
}

export interface BanRequest {
  /** Seconds; null: the escalation ladder for this offence. */
  duration: number | null;
  reason: string;
  kind: string;
  noticeIds: number[];
  origin: BanOrigin;
}

/** What a narrowed scope replaced, and why: for a `narrowed` BanEvent. Both null when not narrowed. */
export interface Narrowing {
  /** The configured scope (the source's /64, /24, ...) that held a protected address. */
  narrowedFrom: Cidr | null;
  /** The protected addresses it held, e.g. "own address 2001:db8:8::10". */
  narrowedBecause: string | null;
}

/** The result of a ban request: the ban, or why there is none; bans it replaced are lifted. */
export interface BanResult extends Narrowing {
  ban: Ban | null;
  refused: string | null;
  lifted: Lift[];
}

/** A decision with its narrowing (for a ban, or a refused narrowed ban); `decide()` returns these. */
export interface PolicyDecision extends Decision {
  narrowedFrom: Cidr | null;
  narrowedBecause: string | null;
}

/** The longest ban a request may ask for (seconds): ten years. */
export const MAX_BAN_SECONDS = 10 * 365 * 86400;

/** Why a requested ban duration is refused (non-finite, not positive, over ten years), or null. */
export function badDuration(d: number): string | null {
  if (typeof d !== 'number' || !Number.isFinite(d)) return `not banned: duration ${String(d)} is not a finite number of seconds`;
  if (d <= 0) return `not banned: duration ${d} s is not positive`;
  if (d > MAX_BAN_SECONDS) return `not banned: duration ${d} s is over ten years (${MAX_BAN_SECONDS} s)`;
  return null;
}

const NOT_NARROWED: Narrowing = { narrowedFrom: null, narrowedBecause: null };

/**
 * `t` (engine seconds) as "2026-12-02T07:26:11Z". Total: a time outside the JS Date range
 * (±8.64e15 ms, e.g. from a crafted capture timestamp) or not finite is rendered as "t=<t>s".
 */
export function formatTime(t: number): string {
  const ms = Math.round(t * 1000);
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `t=${String(t)}s`;
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

export class Policy {
  readonly protect: Protected;
  /** Verdicts per kind and source: repeats within them are suppressed. */
  private readonly verdicts = new Expiring<null>();
  /** Bans in force, by scope text; `prefixes` counts them by prefix length (128-bit space). */
  private readonly bans = new Expiring<Ban>();
  private readonly prefixes = new Map<number, number>();
  private readonly offences = new Expiring<Offence>();
  /** The ban-rate bucket: tokens, refilled to `maxPerMinute` over a minute. */
  private tokens: number;
  private tokensAt = 0;
  /** Bans lifted by decisions and expiry, for the pipeline to pass on (takeLifts). */
  private readonly lifts: Lift[] = [];
  /** Notices reported (alerts and bans); `banned` counts the bans made, by detectors and operators. */
  alerts = 0;
  banned = 0;
  suppressed = 0;
  trusted = 0;
  refused = 0;
  capped = 0;
  lifted = 0;

  constructor(private readonly cfg: PolicyConfig) {
    this.protect = new Protected(cfg.trusted);
    this.tokens = cfg.maxPerMinute;
  }

  setHost(f: HostFacts): void {
    this.protect.setHost(f);
  }

  /** The configured prefix a ban on this source covers (before any narrowing). */
  scopeOf(src: IpAddr): Cidr {
    return Cidr.of(src, this.prefixOf(src));
  }

  private prefixOf(src: IpAddr): number {
    return src.v6 ? this.cfg.ipv6Prefix : this.cfg.ipv4Prefix;
  }

  decide(n: Notice, now: number): PolicyDecision {
    const rule = this.cfg.kinds[n.kind];
    const action: Action = rule?.action ?? (n.severity <= this.cfg.banSeverity ? 'ban' : 'alert');
    if (action === 'ignore') return this.verdict('ignore', n, `policy: ${n.kind} ignored`, 0, null);
    const s = n.src;
    // A flood is reported once per source and victim (a source may flood several hosts).
    const d = n.flood !== undefined ? n.dst : null;
    const key = d === null ? `${n.kind}|${s.w0}:${s.w1}:${s.w2}:${s.w3}` : `${n.kind}|${s.w0}:${s.w1}:${s.w2}:${s.w3}|${d.w0}:${d.w1}:${d.w2}:${d.w3}`;
    const until = this.verdicts.until(key);
    if (until > now) {
      this.suppressed++;
      return this.verdict('ignore', n, 'suppressed: already reported', 0, null);
    }
    // The configured prefix, narrowed to leave out protected addresses; null: s is protected.
    const choice = this.protect.scopeFor(s, this.prefixOf(s));
    const why = choice.scope === null ? choice.why : null;
    const trusted = this.cfg.trusted.match(s.w0, s.w1, s.w2, s.w3);
    if (trusted) {
      // Trusted sources are never reported as alerts (the operator vouches for them); the
      // decision still carries the notice for the record (state keeps it in history).
      this.trusted++;
      this.verdicts.set(key, null, now + this.cfg.duration);
      return this.verdict('ignore', n, why!, 0, null, why);
    }
    if (action === 'alert') {
      this.verdicts.set(key, null, now + this.cfg.duration);
      return this.alert(n, 'policy: alert only', this.cfg.duration, why);
    }
    if (typeof n.noBan === 'string') {
      // The detector knows the source is not the sender (a spoofed flood): banning it would block
      // an innocent and fill the set.
      this.verdicts.set(key, null, now + this.cfg.duration);
      return this.alert(n, `not banned: ${n.noBan}`, this.cfg.duration, why);
    }
    const req: BanRequest = { duration: rule?.duration ?? null, reason: `${n.kind}: ${n.signature}`, kind: n.kind, noticeIds: [n.id], origin: 'detector' };
    const narrowing: Narrowing = { narrowedFrom: choice.narrowedFrom, narrowedBecause: choice.narrowedFrom ? choice.why : null };
    const r = choice.scope === null ? this.refuseCounted(`not banned: ${why}`) : this.tryBan(choice.scope, null, req, now, narrowing);
    for (const l of r.lifted) this.lifts.push(l);
    if (r.ban === null) {
      this.verdicts.set(key, null, now + this.cfg.duration);
      return this.alert(n, r.refused!, this.cfg.duration, why, r);
    }
    this.verdicts.set(key, null, r.ban.until);
    this.alerts++;
    const reason = r.narrowedFrom ? `policy (scope narrowed from ${r.narrowedFrom.toString()} to ${r.ban.key}: ${r.narrowedBecause})` : 'policy';
    return this.verdict('ban', n, reason, r.ban.until - now, r.ban, null, r);
  }

  private alert(n: Notice, reason: string, duration: number, protectedBy: string | null, narrowing: Narrowing = NOT_NARROWED): PolicyDecision {
    this.alerts++;
    return this.verdict('alert', n, reason, duration, null, protectedBy, narrowing);
  }

  private verdict(action: Action, notice: Notice, reason: string, duration: number, ban: Ban | null, protectedBy: string | null = null, narrowing: Narrowing = NOT_NARROWED): PolicyDecision {
    return { action, notice, reason, duration, ban, protectedBy, narrowedFrom: narrowing.narrowedFrom, narrowedBecause: narrowing.narrowedBecause };
  }

  /** The ban duration of an offence (1 for the first). */
  durationFor(offence: number, first = this.cfg.duration): number {
    const steps = this.cfg.escalation;
    if (offence <= 1 || steps.length === 0) return first;
    return Math.max(first, steps[Math.min(offence - 2, steps.length - 1)]!);
  }

  /** The offence number a new ban on `key` would be. */
  nextOffence(key: string, now: number): number {
    const o = this.offences.get(key);
    return o && now - o.last < this.cfg.forgetAfter ? o.count + 1 : 1;
  }

  /** An active ban covering (containing) `scope`, if any. */
  covering(scope: Cidr): Ban | null {
    const exact = this.bans.get(scope.toString());
    if (exact) return exact;
    for (const bits of this.prefixes.keys()) {
      if (bits >= scope.bits) continue;
      const wide = Cidr.of(scope.addr, scope.addr.v6 ? bits : bits - 96);
      if (wide.addr.v6 !== scope.addr.v6) continue;
      const b = this.bans.get(wide.toString());
      if (b) return b;
    }
    return null;
  }

  /**
   * Bans `scope` exactly as asked (an operator's or a feed's address or CIDR; detectors go
   * through `decide()`, which narrows), unless it is protected (even when only a part of it is:
   * the operator asked for that scope), already covered, over a cap, or its duration is not a
   * finite number of seconds in (0, 10 years]. Narrower bans it covers are lifted (superseded).
   */
  ban(scope: Cidr, req: BanRequest, now: number): BanResult {
    return this.tryBan(scope, this.protect.why(scope), req, now);
  }

  private refuseCounted(reason: string, narrowing: Narrowing = NOT_NARROWED): BanResult {
    this.refused++;
    return { ban: null, refused: reason, lifted: [], ...narrowing };
  }

  /** `ban()` with the scope's protection already looked up (`why`), and its narrowing if any. */
  private tryBan(scope: Cidr, why: string | null, req: BanRequest, now: number, n: Narrowing = NOT_NARROWED): BanResult {
    const refuse = (reason: string): BanResult => ({ ban: null, refused: reason, lifted: [], ...n });
    if (why !== null) return this.refuseCounted(`not banned: ${why}`, n);
    const bad = req.duration === null ? null : badDuration(req.duration);
    if (bad !== null) return this.refuseCounted(bad, n);
    const existing = this.covering(scope);
    if (existing && !(req.origin === 'operator' && existing.key === scope.toString())) {
      return refuse(`already banned: ${existing.key} until ${formatTime(existing.until)}`);
    }
    if (req.origin === 'detector') {
      if (this.bans.size >= this.cfg.maxActive) {
        this.capped++;
        return refuse(`not banned: ${this.bans.size} bans in force (block.max_active)`);
      }
      this.refill(now);
      if (this.tokens < 1) {
        this.capped++;
        return refuse(`not banned: over ${this.cfg.maxPerMinute} bans a minute (block.max_per_minute)`);
      }
      this.tokens -= 1;
    }
    const lifted = this.liftOverlapping(scope, 'superseded', now, true);
    const key = scope.toString();
    const offence = this.nextOffence(key, now);
    const duration = req.duration ?? this.durationFor(offence, this.cfg.duration);
    const ban: Ban = {
      scope,
      key,
      since: now,
      until: now + duration,
      reason: req.reason,
      kind: req.kind,
      noticeIds: req.noticeIds,
      offence,
      origin: req.origin,
    };
    this.add(ban);
    this.offences.set(key, { key, count: offence, last: now }, now + this.cfg.forgetAfter);
    this.banned++;
    return { ban, refused: null, lifted, ...n };
  }

  /** Lifts every ban overlapping `scope` (an operator's unban). */
  unban(scope: Cidr, now: number, reason: LiftReason = 'operator'): Lift[] {
    return this.liftOverlapping(scope, reason, now, false);
  }

  /** Lifts the ban on exactly this scope (e.g. one the firewall refused), or returns null. */
  liftExact(key: string, reason: LiftReason, now: number): Lift | null {
    const b = this.bans.get(key);
    return b ? this.remove(b, reason, now) : null;
  }

  /** True when a ban on exactly this scope is in force. */
  isActive(key: string): boolean {
    return this.bans.get(key) !== undefined;
  }

  /**
   * Lifts the ban on `scope` itself and, with `insideOnly`, the narrower bans inside it, else
   * every ban overlapping it. The book is scanned only when it holds bans of other prefix
   * lengths that could match, so a detector's ban costs a lookup, not a pass over every ban.
   */
  private liftOverlapping(scope: Cidr, reason: LiftReason, now: number, insideOnly: boolean): Lift[] {
    const out: Lift[] = [];
    const exact = this.bans.get(scope.toString());
    if (exact) out.push(this.remove(exact, reason, now));
    let scan = false;
    for (const bits of this.prefixes.keys()) if (bits > scope.bits || (!insideOnly && bits < scope.bits)) scan = true;
    if (!scan) return out;
    for (const b of [...this.bans.values()]) {
      if ((!insideOnly || b.scope.bits > scope.bits) && scope.overlaps(b.scope)) out.push(this.remove(b, reason, now));
    }
    return out;
  }

  private add(ban: Ban): void {
    this.bans.set(ban.key, ban, ban.until);
    this.prefixes.set(ban.scope.bits, (this.prefixes.get(ban.scope.bits) ?? 0) + 1);
  }

  private forgetPrefix(b: Ban): void {
    const n = (this.prefixes.get(b.scope.bits) ?? 1) - 1;
    if (n === 0) this.prefixes.delete(b.scope.bits);
    else this.prefixes.set(b.scope.bits, n);
  }

  private remove(b: Ban, reason: LiftReason, now: number): Lift {
    this.bans.delete(b.key);
    this.forgetPrefix(b);
    this.lifted++;
    return { ban: b, reason, at: now };
  }

  private refill(now: number): void {
    const max = this.cfg.maxPerMinute;
    // A clock that went back (a capture's impossible timestamp, then sane ones) restarts the
    // refill from now rather than draining the bucket for ever.
    if (this.tokensAt !== 0 && now > this.tokensAt) this.tokens = Math.min(max, this.tokens + ((now - this.tokensAt) * max) / 60);
    this.tokensAt = now;
  }

  /** Bans in force. */
  active(): Ban[] {
    return [...this.bans.values()];
  }

  get activeCount(): number {
    return this.bans.size;
  }

  /**
   * Restores state from a previous run: bans still in force (protected ones are dropped and
   * returned, in case the host's facts changed) and offence counts.
   */
  restore(bans: readonly Ban[], offences: readonly Offence[], now: number): Ban[] {
    for (const o of offences) if (now - o.last < this.cfg.forgetAfter) this.offences.set(o.key, o, o.last + this.cfg.forgetAfter);
    const dropped: Ban[] = [];
    for (const b of bans) {
      if (b.until <= now) continue;
      if (this.protect.why(b.scope) !== null || this.covering(b.scope)) dropped.push(b);
      else this.add(b);
    }
    return dropped;
  }

  /** Forgets verdicts and offences that have run out; expired bans are queued as lifts. */
  expire(now: number): void {
    this.verdicts.expire(now);
    this.offences.expire(now);
    this.bans.expire(now, (b) => {
      this.forgetPrefix(b);
      this.lifted++;
      this.lifts.push({ ban: b, reason: 'expired', at: now });
    });
  }

  /** The lifts queued since the last call (expired, superseded by a wider detector ban). */
  takeLifts(): Lift[] {
    return this.lifts.length === 0 ? [] : this.lifts.splice(0, this.lifts.length);
  }

  /** Offence records still remembered, for state. */
  offenceList(): Offence[] {
    return [...this.offences.values()];
  }

  stats(): Record<string, number> {
    return {
      alerts: this.alerts,
      bans: this.banned,
      suppressed: this.suppressed,
      trusted: this.trusted,
      refused: this.refused,
      capped: this.capped,
      lifted: this.lifted,
      active: this.bans.size,
      offenders: this.offences.size,
    };
  }

  clear(): void {
    this.verdicts.clear();
    this.bans.clear();
    this.prefixes.clear();
    this.offences.clear();
  }
}
