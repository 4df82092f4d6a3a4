// A fake firewall tool for fault injection: a shell wrapper, put first on PATH, that refuses
// (exit 1, with a message as the real tool would) any input holding a marker, and otherwise
// runs the real tool with the same arguments and input.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes `dir/name`, which fails when its stdin contains `marker`, else execs `real`.
 * Returns `dir` (to put first on PATH).
 */
export function fakeTool(dir: string, name: string, real: string, marker: string): string {
  mkdirSync(dir, { recursive: true });
  const script =
    '#!/bin/bash\n' +
    'input=$(cat; echo x)\ninput=${input%x}\n' +
    `if [[ "$input" == *'${marker}'* ]]; then echo "${name}: Error: simulated refusal of ${marker}" >&2; exit 1; fi\n` +
    `printf '%s' "$input" | exec ${real} "$@"\n`;
  writeFileSync(join(dir, name), script);
  chmodSync(join(dir, name), 0o755);
  return dir;
}
