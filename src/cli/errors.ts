// How the CLI reports a failure: "palisade: <message> [PAL_ERR_...]" plus one line per located
// detail, on stderr; the exit code comes from the error code.

import { exitCodeOf, isPalisadeError } from '../core/errors.js';

export function reportError(e: unknown, err: NodeJS.WritableStream = process.stderr): number {
  if (isPalisadeError(e)) {
    if (e.details.length > 1) {
      err.write(`palisade: ${e.details.length} problems [${e.code}]\n`);
      for (const d of e.details) err.write(`  ${d}\n`);
    } else {
      err.write(`palisade: ${e.message} [${e.code}]\n`);
    }
  } else {
    err.write(`palisade: internal error [PAL_ERR_INTERNAL]: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  return exitCodeOf(e);
}
