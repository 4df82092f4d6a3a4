// An exclusive lock per state database, for the daemon: `<db>.lock`, created with O_EXCL and
// holding the owner's pid. A lock whose owner is gone (the pid is dead, or is no longer a node or
// palisade process) is stale and taken over. The offline CLI never takes it: when a daemon runs,
// the CLI goes through its control socket.

import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PalisadeError } from '../core/errors.js';

export interface StateLock {
  /** The lock file, or null when none was taken (":memory:", or a folder that cannot be written). */
  readonly path: string | null;
  /** Why no lock file could be made (a read-only folder), else null. */
  readonly problem: string | null;
  /** Removes the lock file if it is still this process's. Idempotent. */
  release(): void;
}

/** The pid in a lock file, or null when it holds none. */
function lockOwner(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** True when `pid` runs and is a node or palisade process (so it may be a daemon holding the lock). */
function isPalisade(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => /(^|\/)(node|nodejs|palisade)([\d.]*)$/.test(a) || /palisade/.test(a));
  } catch {
    return false; // gone in between
  }
}

/**
 * Takes the lock on the state database `dbPath`. Throws PAL_ERR_LOCKED when a live palisade
 * process holds it (this one included: one daemon per database); takes over a stale lock.
 */
export function lockState(dbPath: string): StateLock {
  if (dbPath === ':memory:' || dbPath === '') return { path: null, problem: null, release: () => {} };
  const file = `${dbPath}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      fd = openSync(file, 'wx', 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        // A read-only folder: no daemon can write this database either, so run unlocked, reported.
        return { path: null, problem: `${file}: cannot take the lock (${(e as Error).message})`, release: () => {} };
      }
      const pid = lockOwner(file);
      if (pid !== null && isPalisade(pid)) throw new PalisadeError('PAL_ERR_LOCKED', `${dbPath}: in use by palisade daemon pid ${pid}`);
      // Stale (dead owner, a recycled pid, or an empty file left by a crash at creation).
      if (pid === null && attempt === 0) {
        // It may be a lock being created right now: look again once before taking it.
        const again = lockOwner(file);
        if (again !== null && isPalisade(again)) throw new PalisadeError('PAL_ERR_LOCKED', `${dbPath}: in use by palisade daemon pid ${again}`);
      }
      try {
        unlinkSync(file);
      } catch {
        /* someone else took it over first: try again */
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    let held = true;
    return {
      path: file,
      problem: null,
      release: () => {
        if (!held) return;
        held = false;
        try {
          if (lockOwner(file) === process.pid) unlinkSync(file);
        } catch {
          /* already gone */
        }
      },
    };
  }
  throw new PalisadeError('PAL_ERR_LOCKED', `${dbPath}: the lock ${file} keeps changing hands; is another daemon starting?`);
}
