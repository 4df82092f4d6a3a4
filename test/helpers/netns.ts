// Helpers for the tests that run real tools in network namespaces: commands that must succeed,
// waiting for a child's output or exit, and reading EVE files.

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sh } from './cli.js';

export const isRoot = process.getuid?.() === 0;

export function must(cmd: string): string {
  const r = sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got: ${text}`)), ms);
    const on = (chunk: Buffer): void => {
      text += chunk.toString();
      if (re.test(text)) {
        clearTimeout(timer);
        child[stream]!.off('data', on);
        resolve(text);
      }
    };
    child[stream]!.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${re}; output: ${text}`));
    });
  });
}

export function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code ?? -1));
  });
}

export function eveLines(path: string): any[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

/**
 * Sets up a test's namespaces (removing any left from a crashed run first) and registers their
 * removal, with every child process in the returned list killed, when the test ends.
 */
export function withNamespaces(t: { after(fn: () => void): void }, setUp: () => void, tearDown: () => void): ChildProcess[] {
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    tearDown();
  });
  tearDown();
  setUp();
  return children;
}
