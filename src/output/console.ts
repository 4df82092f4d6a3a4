// The human-readable view for a terminal: one line per alert, one short line per stats event.

import type { Decision } from '../core/notice.js';
import { eveTimestamp, protoName } from './eve.js';

const SEVERITY = ['', 'HIGH', 'MEDIUM', 'LOW'];

export function formatAlertLine(d: Decision): string {
  const n = d.notice;
  const time = eveTimestamp(n.tsSec, n.tsNsec).slice(0, 23).replace('T', ' ');
  const dst = n.dst ? ` -> ${n.dst.toString()}${n.dstPort ? `:${n.dstPort}` : ''}` : '';
  const what = d.action === 'ban' ? `BANNED ${d.ban!.key} for ${Math.round(d.duration)}s` : 'ALERT';
  return `${time}  ${what} ${SEVERITY[n.severity] ?? n.severity}  ${n.kind}  ${n.src.toString()}${dst} ${protoName(n.proto)}  ${n.signature}`;
}

export function formatStatsLine(stats: Record<string, unknown>): string {
  const d = (stats.decoder ?? {}) as Record<string, number>;
  const cap = (stats.capture ?? {}) as Record<string, number>;
  const det = (stats.detect ?? {}) as Record<string, number>;
  const f = (x: number | undefined): string => (x ?? 0).toLocaleString('en-US');
  return (
    `stats: ${f(d.pkts)} packets, ${f(d.bytes)} bytes, ${f(d.invalid)} invalid, ` +
    `${f(cap.kernel_drops)} dropped by the kernel, ${f(det.alerts)} alerts`
  );
}
