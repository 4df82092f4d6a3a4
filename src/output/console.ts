// The human-readable view for a terminal: one line per alert, per ban lifecycle change, and one
// short line per stats event. Text from outside (reasons, errors) has control characters escaped.

import type { BanEvent, Decision } from '../core/notice.js';
import { capText, escapeControl } from '../core/text.js';
import { eveTimestamp, eveTimestampOf, protoName, type FloodEvent } from './eve.js';

const SEVERITY = ['', 'HIGH', 'MEDIUM', 'LOW'];

/** `2026-11-24 10:00:00.123` from an EVE timestamp. */
const consoleTime = (ts: string): string => ts.slice(0, -8).replace('T', ' ');

/**
 * What a decision did: `BANNED <scope> for Ns` only once the firewall applied it, `BAN FAILED
 * <scope> (<error>)` when it failed or was quarantined, `WOULD BAN <scope> for Ns` when not
 * enforced (replay) or a dry run; `ALERT` otherwise.
 */
function decisionWord(d: Decision): string {
  if (d.action !== 'ban' || !d.ban) return 'ALERT';
  const e = d.enforcement;
  const secs = `for ${Math.round(d.duration)}s`;
  if (e?.status === 'applied') return `BANNED ${d.ban.key} ${secs}`;
  if (e?.status === 'failed' || e?.status === 'quarantined') return `BAN FAILED ${d.ban.key} (${escapeControl(e.error ?? e.status)})`;
  return `WOULD BAN ${d.ban.key} ${secs}`;
}

export function formatAlertLine(d: Decision): string {
  const n = d.notice;
  const time = consoleTime(eveTimestamp(n.tsSec, n.tsNsec));
  const dst = n.dst ? ` -> ${n.dst.toString()}${n.dstPort ? `:${n.dstPort}` : ''}` : '';
  return `${time}  ${decisionWord(d)} ${SEVERITY[n.severity] ?? n.severity}  ${n.kind}  ${n.src.toString()}${dst} ${protoName(n.proto)}  ${n.signature}`;
}

/** `<time>  BAN <ACTION> <scope> [until <time>] by <by>  <reason>[ (<error>)]` */
export function formatBanLine(e: BanEvent): string {
  const until = e.until === null ? '' : ` until ${consoleTime(eveTimestampOf(e.until))}`;
  const error = e.error === undefined ? '' : ` (${escapeControl(e.error)})`;
  return `${consoleTime(eveTimestampOf(e.at))}  BAN ${e.action.toUpperCase()} ${e.scope}${until} by ${e.by}  ${escapeControl(capText(e.reason))}${error}`;
}

/** `<time>  FLOOD <PHASE> <kind> -> <victim>[:port]  <pps> pkt/s (peak <pps>)[ mitigated][ (<error>)]` */
export function formatFloodLine(e: FloodEvent): string {
  const port = e.port ? `:${e.port}` : '';
  const f = (x: number): string => x.toLocaleString('en-US');
  const mit = e.mitigation ? `  ${escapeControl(capText(e.mitigation.rules))}${e.mitigation.error !== undefined ? ` (${escapeControl(capText(e.mitigation.error))})` : ''}` : e.mitigate ? '  spoofed or many sources' : '';
  return `${consoleTime(eveTimestampOf(e.at))}  FLOOD ${e.phase.toUpperCase().replace('_', ' ')} ${e.kind} -> ${e.victim}${port}  ${f(e.pps)} pkt/s (peak ${f(e.peakPps)})${mit}`;
}

export function formatStatsLine(stats: Record<string, unknown>): string {
  const d = (stats.decoder ?? {}) as Record<string, number>;
  const cap = (stats.capture ?? {}) as Record<string, number>;
  const det = (stats.detect ?? {}) as Record<string, number>;
  const f = (x: number | undefined): string => (x ?? 0).toLocaleString('en-US');
  return (
    `stats: ${f(d.pkts)} packets, ${f(d.bytes)} bytes, ${f(d.invalid)} invalid, ` +
    `${f(cap.kernel_drops)} dropped by the kernel, ${f(cap.ring_drops)} by Palisade's ring, ${f(det.alerts)} alerts`
  );
}
