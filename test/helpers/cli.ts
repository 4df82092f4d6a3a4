// Test helpers: run the built `palisade` CLI as a child process, and make scratch directories.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const GEN = fileURLToPath(new URL('../../tools/gen-capture.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function palisade(args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    input: opts.input,
    env: opts.env ?? process.env,
    maxBuffer: 256 << 20,
    timeout: opts.timeout ?? 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs `palisade replay --json -q ...` and parses the summary. */
export function replayJson(args: string[], opts: { input?: Buffer } = {}): { code: number; summary: any; stderr: string } {
  const r = palisade(['replay', '--json', '-q', ...args], opts);
  let summary: any = null;
  try {
    summary = JSON.parse(r.stdout);
  } catch {
    throw new Error(`replay did not print JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, summary, stderr: r.stderr };
}

/** Runs a command line through bash; returns its output. */
export function sh(cmd: string, timeout = 60_000): CliResult {
  const r = spawnSync('bash', ['-c', cmd], { timeout, maxBuffer: 256 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * A scratch directory removed when the test ends, after unmounting anything a test mounted inside
 * it (a tmpfs for a full or read-only disk); a failure to remove it never skips later clean-ups.
 */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'palisade-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    let mounts: string[] = [];
    try {
      mounts = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${d}/`));
    } catch {
      /* no /proc */
    }
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* left behind; the next run's clean-up is not blocked by it */
    }
  });
  return d;
}

export { spawn };
