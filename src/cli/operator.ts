// The operator commands: status, bans list, ban, unban, history, alerts, top. Each asks the running
// daemon over the control socket; when no daemon runs, pipeline/offline.ts works on the state
// database directly (and, for ban and unban, on the firewall), through the same Operator code.

import type { Config } from '../config/schema.js';
import { request } from '../control/client.js';
import { parseRequest, type Request } from '../control/protocol.js';
import { firewallFailure, offline, type OperatorResult, type RequestInput } from '../pipeline/offline.js';
import type { BanView } from '../pipeline/operator.js';

export type { OperatorResult };

/**
 * Runs `req` against the daemon, or offline against the database (pipeline/offline.ts). The
 * request is validated first; a ban or unban the firewall did not take is PAL_ERR_FIREWALL.
 */
export async function operate(cfg: Config, req: Request | RequestInput): Promise<OperatorResult> {
  const r = parseRequest(req);
  if (cfg.control.socket) {
    const result = await request(cfg.control.socket, r);
    if (result !== null) {
      const failed = firewallFailure(r, result, true);
      if (failed) throw failed;
      return { result, daemon: true, warnings: [] };
    }
  }
  return offline(cfg, r);
}

function formatSeconds(s: number): string {
  if (s >= 86400) return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

/** The `bans list` table. */
export function formatBanTable(bans: readonly BanView[]): string {
  if (bans.length === 0) return 'no bans in force\n';
  const rows = bans.map((b) => [b.scope, formatSeconds(b.remaining), String(b.offence), b.origin, b.kind, b.reason]);
  const head = ['SCOPE', 'REMAINING', 'OFFENCE', 'ORIGIN', 'KIND', 'REASON'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

export function formatBanLine(b: BanView): string {
  return `${b.scope} banned for ${formatSeconds(b.remaining)} (offence ${b.offence}, until ${b.until}): ${b.reason}\n`;
}
