// EVE JSON, Suricata's event layout, so SIEM tools ingest Palisade's events as they are:
// `timestamp` (2026-11-24T10:00:00.123456+0000, UTC, from packet time), `event_type`, the
// 5-tuple, and an `alert` object for detections. Strings are built here, never on the hot path.

import type { BanEvent, Decision, Enforcement, Notice } from '../core/notice.js';
import { MAX_REASON, capText } from '../core/text.js';

const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'IPv6-ICMP', 132: 'SCTP' };

export function protoName(n: number): string {
  return PROTO_NAMES[n] ?? String(n);
}

// Date covers ±8.64e15 ms; anything outside is clamped rather than throwing.
const MAX_SEC = 8.64e12;

/**
 * EVE timestamp for a packet time given as seconds and nanoseconds. Never throws: a time that is
 * not a number, negative or past the year 275760 is clamped (NaN and negatives to the epoch).
 */
export function eveTimestamp(sec: number, nsec: number): string {
  if (!Number.isFinite(sec) || sec < 0) sec = 0;
  if (sec > MAX_SEC) sec = MAX_SEC;
  if (!Number.isFinite(nsec) || nsec < 0) nsec = 0;
  const iso = new Date(Math.floor(sec) * 1000).toISOString(); // 2026-11-24T10:00:00.000Z (+275760-... at the end)
  const usec = Math.min(999_999, Math.floor(nsec / 1000));
  return `${iso.slice(0, -5)}.${String(usec).padStart(6, '0')}+0000`;
}

/** EVE timestamp for a packet time given as fractional seconds (clamped like eveTimestamp). */
export function eveTimestampOf(t: number): string {
  if (!Number.isFinite(t) || t < 0) t = 0;
  const sec = Math.floor(t);
  return eveTimestamp(sec, Math.round((t - sec) * 1e6) * 1000);
}

/** Evidence values under keys ending in `_seen` are packet times: rendered as timestamps. */
function renderEvidence(ev: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev)) out[k] = k.endsWith('_seen') && typeof v === 'number' ? eveTimestampOf(v) : v;
  return out;
}

export interface EveAlert {
  timestamp: string;
  event_type: 'alert';
  src_ip: string;
  src_port: number;
  dest_ip: string | null;
  dest_port: number;
  proto: string;
  alert: { action: string; gid: number; signature_id: number; rev: number; signature: string; category: string; severity: number };
  palisade: {
    kind: string;
    detector: string;
    notice_id: number;
    decision: string;
    reason: string;
    duration: number;
    ban?: { scope: string; until: string; offence: number };
    /** What became of the ban in the firewall; absent when not enforced (replay). */
    enforcement?: Enforcement;
    evidence: Record<string, unknown>;
  };
}

/**
 * A change in a ban's life (the audit trail): `src_ip` is the scope's address, `until` an EVE
 * timestamp or null; `reason` and `error` are capped to MAX_REASON characters.
 */
export interface EveBan {
  timestamp: string;
  event_type: 'ban';
  src_ip: string;
  ban: {
    action: BanEvent['action'];
    by: BanEvent['by'];
    scope: string;
    until: string | null;
    reason: string;
    kind?: string;
    offence?: number;
    origin?: BanEvent['origin'];
    error?: string;
  };
}

export function alertEvent(d: Decision): EveAlert {
  const n = d.notice;
  return {
    timestamp: eveTimestamp(n.tsSec, n.tsNsec),
    event_type: 'alert',
    src_ip: n.src.toString(),
    src_port: n.srcPort,
    dest_ip: n.dst ? n.dst.toString() : null,
    dest_port: n.dstPort,
    proto: protoName(n.proto),
    alert: {
      // "blocked" only once the kernel holds the ban; a decided but unapplied ban is "allowed".
      action: d.ban && d.enforcement?.status === 'applied' ? 'blocked' : 'allowed',
      gid: 1,
      signature_id: n.signatureId,
      rev: 1,
      signature: n.signature,
      category: n.category,
      severity: n.severity,
    },
    palisade: {
      kind: n.kind,
      detector: n.detector,
      notice_id: n.id,
      decision: d.action,
      reason: d.reason,
      duration: d.duration,
      ...(d.ban ? { ban: { scope: d.ban.key, until: eveTimestampOf(d.ban.until), offence: d.ban.offence } } : {}),
      ...(d.enforcement ? { enforcement: enforcementOf(d.enforcement) } : {}),
      evidence: renderEvidence(n.evidence),
    },
  };
}

function enforcementOf(e: Enforcement): Enforcement {
  return e.error === undefined ? { status: e.status } : { status: e.status, error: capText(e.error, MAX_REASON) };
}

export function banEvent(e: BanEvent): EveBan {
  const slash = e.scope.indexOf('/');
  return {
    timestamp: eveTimestampOf(e.at),
    event_type: 'ban',
    src_ip: slash < 0 ? e.scope : e.scope.slice(0, slash),
    ban: {
      action: e.action,
      by: e.by,
      scope: e.scope,
      until: e.until === null ? null : eveTimestampOf(e.until),
      reason: capText(e.reason, MAX_REASON),
      ...(e.kind !== undefined ? { kind: e.kind } : {}),
      ...(e.offence !== undefined ? { offence: e.offence } : {}),
      ...(e.origin !== undefined ? { origin: e.origin } : {}),
      ...(e.error !== undefined ? { error: capText(e.error, MAX_REASON) } : {}),
    },
  };
}

/**
 * A flood's lifecycle (start, update, end) and its mitigation (applied, withdrawn, failed), as an
 * EVE `flood` event: `dest_ip` is the victim.
 */
export interface FloodEvent {
  at: number;
  phase: 'start' | 'update' | 'end' | 'mitigation_applied' | 'mitigation_withdrawn' | 'mitigation_failed';
  id: number;
  kind: string;
  victim: string;
  port: number;
  proto: number;
  mitigate: boolean;
  pps: number;
  bps: number;
  peakPps: number;
  peakBps: number;
  evidence?: Record<string, unknown>;
  /** The mitigation's rules in words, and the firewall's error when it failed. */
  mitigation?: { backend: string; rules: string; error?: string };
}

/** The flood event of a flood notice. */
export function floodEventOf(n: Notice): FloodEvent | null {
  const f = n.flood;
  if (f === undefined || f.phase === 'source') return null;
  return { at: n.tsSec + n.tsNsec / 1e9, phase: f.phase, id: f.id, kind: f.kind, victim: f.victim.toString(), port: f.port, proto: n.proto, mitigate: f.mitigate, pps: f.pps, bps: f.bps, peakPps: f.peakPps, peakBps: f.peakBps, evidence: n.evidence };
}

export function floodEvent(e: FloodEvent): Record<string, unknown> {
  return {
    timestamp: eveTimestampOf(e.at),
    event_type: 'flood',
    dest_ip: e.victim,
    dest_port: e.port,
    proto: protoName(e.proto),
    flood: {
      phase: e.phase,
      id: e.id,
      kind: e.kind,
      pps: e.pps,
      bps: e.bps,
      peak_pps: e.peakPps,
      peak_bps: e.peakBps,
      mitigate: e.mitigate,
      ...(e.mitigation ? { mitigation: { ...e.mitigation, ...(e.mitigation.error !== undefined ? { error: capText(e.mitigation.error, MAX_REASON) } : {}) } } : {}),
      ...(e.evidence ? { evidence: renderEvidence(e.evidence) } : {}),
    },
  };
}

export function statsEvent(sec: number, nsec: number, stats: Record<string, unknown>): Record<string, unknown> {
  return { timestamp: eveTimestamp(sec, nsec), event_type: 'stats', stats };
}
