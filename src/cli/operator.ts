// The operator commands: status, bans list, ban, unban, history, alerts, top. Each asks the running
// daemon over the control socket; when no daemon runs, pipeline/offline.ts works on the state
// database directly (and, for ban and unban, on the firewall), through the same Operator code.

import type { Config } from '../config/schema.js';
import { request } from '../control/client.js';
import { parseRequest, type Request } from '../control/protocol.js';
import { firewallFailure, offline, type OperatorResult, type RequestInput } from '../pipeline/offline.js';

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
