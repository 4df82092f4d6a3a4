// A parsed log line, as the log sources hand it to the engine: its time (from the line), which
// service and log it came from, the remote address it names, and what it says of a login.

import type { IpAddr } from './addr.js';

/** What a log line says of a login attempt. */
export const OUTCOME = {
  /** A failed login (a wrong password, an unknown user, too many attempts). */
  FAIL: 1,
  /** A successful login. */
  SUCCESS: 2,
} as const;

export interface LogEvent {
  /** The line's time (seconds, nanoseconds), the engine's clock for it. */
  sec: number;
  nsec: number;
  /** The filter that read it (`sshd`): the alert's view is `log:<filter>`. */
  filter: string;
  /** The service it concerns (`ssh`), as the packet view names it. */
  service: string;
  outcome: number;
  addr: IpAddr;
  /** The username the line names, or null. */
  user: string | null;
  /** Where it came from: the log's name and the line number. */
  file: string;
  line: number;
}
