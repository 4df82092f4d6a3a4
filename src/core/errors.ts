// Palisade's error type: every failure that reaches the operator carries a stable code
// (PAL_ERR_*) and the process exit code that goes with it, like fastify's FST_ERR_* codes.

/** Stable error codes, with the exit code each one maps to and a one-line meaning. */
export const ERROR_CODES = {
  PAL_ERR_INTERNAL: { exit: 1, about: 'an unexpected internal error (a bug)' },
  PAL_ERR_USAGE: { exit: 2, about: 'bad command-line usage' },
  PAL_ERR_CONFIG_READ: { exit: 2, about: 'the config file cannot be read' },
  PAL_ERR_CONFIG_SYNTAX: { exit: 2, about: 'the config file is not valid YAML' },
  PAL_ERR_CONFIG_INVALID: { exit: 2, about: 'the config file has an unknown key, a wrong type or a bad value' },
  PAL_ERR_CAPTURE_OPEN: { exit: 3, about: 'a capture file cannot be opened or read' },
  PAL_ERR_CAPTURE_FORMAT: { exit: 3, about: 'a capture file is not pcap or pcapng' },
  PAL_ERR_CAPTURE_CORRUPT: { exit: 3, about: 'a capture file is corrupt past a given byte offset' },
  PAL_ERR_LOG_OPEN: { exit: 3, about: 'a log file cannot be opened or read' },
  PAL_ERR_LIVE_UNAVAILABLE: { exit: 4, about: 'live capture is not available (libpcap binding missing)' },
  PAL_ERR_LIVE_OPEN: { exit: 4, about: 'the capture interface cannot be opened' },
  PAL_ERR_LIVE_CAPTURE: { exit: 4, about: 'live capture failed while running (the interface went away)' },
  PAL_ERR_NO_INTERFACE: { exit: 4, about: 'no interface was named and no default route was found' },
  PAL_ERR_OUTPUT_OPEN: { exit: 5, about: 'an output file cannot be opened or written' },
  PAL_ERR_OUTPUT_WRITE: { exit: 5, about: 'writing to an output failed (disk full, closed pipe, device error)' },
  PAL_ERR_FIREWALL: { exit: 6, about: 'a firewall command failed or is missing (nft, ipset, iptables)' },
  PAL_ERR_STATE: { exit: 7, about: 'the state database cannot be opened or written' },
  PAL_ERR_CONTROL: { exit: 8, about: 'the control socket cannot be reached or answered an error' },
  PAL_ERR_LOCKED: { exit: 8, about: 'another palisade daemon holds the firewall table or the state database' },
  PAL_ERR_PROTECTED: { exit: 9, about: 'the address is protected and cannot be banned' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code. `details` lists further located problems (one per line). */
export class PalisadeError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PalisadeError';
    this.code = code;
    this.details = options.details ?? [];
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isPalisadeError(e: unknown): e is PalisadeError {
  return e instanceof PalisadeError;
}

/** The exit code for any thrown value: the mapped code for a PalisadeError, 1 otherwise. */
export function exitCodeOf(e: unknown): number {
  return isPalisadeError(e) ? e.exitCode : 1;
}
