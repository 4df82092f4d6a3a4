// How the CLI reports a failure: "palisade: <message> [PAL_ERR_...]" plus one line per located
// detail, on stderr; the exit code comes from the error code. Messages are escaped
// (escapeControl), so text an operator typed cannot re-colour or break the terminal.

import { exitCodeOf, isPalisadeError } from '../core/errors.js';
import { escapeControl } from '../core/text.js';

export function reportError(e: unknown, err: NodeJS.WritableStream = process.stderr): number {
  if (isPalisadeError(e)) {
    if (e.details.length > 1) {
      // A capped list ends "... and N more problems": the header counts them all.
      const more = /^\.\.\. and (\d+) more problems$/.exec(e.details.at(-1) ?? '');
      const count = more ? e.details.length - 1 + Number(more[1]) : e.details.length;
      err.write(`palisade: ${count} problems [${e.code}]\n`);
      for (const d of e.details) err.write(`  ${escapeControl(d)}\n`);
    } else {
      err.write(`palisade: ${escapeControl(e.message)} [${e.code}]\n`);
    }
  } else {
    err.write(`palisade: internal error [PAL_ERR_INTERNAL]: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  return exitCodeOf(e);
}

/**
 * A commander error ("error: unknown option '--nope'\n(Did you mean --json?)\n") in the CLI's
 * format: "palisade: unknown option '--nope' [PAL_ERR_USAGE]", then any hint on its own line.
 */
export function formatUsageError(text: string): string {
  const [first = '', ...rest] = text.replace(/^error:\s*/, '').trimEnd().split('\n');
  return [`palisade: ${escapeControl(first)} [PAL_ERR_USAGE]`, ...rest.filter((l) => l.trim() !== '').map(escapeControl)].join('\n') + '\n';
}
