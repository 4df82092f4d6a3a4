// Reads the kernel's SYN-cookie setting. With net.ipv4.tcp_syncookies=0 a SYN flood fills a
// listener's backlog and real clients' connections fail even at rates a mitigation lets through;
// 1 (the default) sends cookies only when a backlog overflows, 2 always. Pure: `procRoot` is a
// parameter so a test can point it at a directory of its own.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SyncookiesState {
  /** The setting (0, 1, 2), or null when it cannot be read. */
  value: number | null;
  /** A sentence for the operator when the setting leaves listeners open to SYN floods, else null. */
  warning: string | null;
}

export function readSyncookies(procRoot = '/proc'): SyncookiesState {
  const path = join(procRoot, 'sys/net/ipv4/tcp_syncookies');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { value: null, warning: `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)}): SYN cookies unknown` };
  }
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { value: null, warning: `${path} holds ${JSON.stringify(t.slice(0, 20))}, not a number: SYN cookies unknown` };
  const value = Number(t);
  if (value === 0)
    return {
      value,
      warning: 'net.ipv4.tcp_syncookies is 0: a SYN flood fills listen backlogs and real clients cannot connect; set it to 1 (sysctl -w net.ipv4.tcp_syncookies=1)',
    };
  return { value, warning: null };
}
