// The firewall table lock: one daemon per firewall table name per network namespace, as the
// tables themselves are. Held as a listening Linux abstract Unix socket, which lives in the
// network namespace and which the kernel frees when its process dies (no stale lock files).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { PalisadeError } from '../core/errors.js';

export interface TableLock {
  /** The abstract socket name held ("" for dry-run, which takes no lock). */
  readonly name: string;
  release(): Promise<void>;
}

/** The abstract socket name for a table (hashed when it would not fit the 107 bytes of sun_path). */
export function lockName(backend: string, name: string): string {
  const full = `palisade-fw-${backend}-${name}`;
  return Buffer.byteLength(full) <= 100 ? full : `palisade-fw-${createHash('sha256').update(full).digest('hex').slice(0, 32)}`;
}

/**
 * Takes the exclusive lock on `backend` table `name` in this network namespace; throws
 * PAL_ERR_LOCKED when another process holds it. Dry-run changes no table and takes no lock.
 */
export async function lockTable(backend: string, name: string): Promise<TableLock> {
  if (backend === 'dry-run') return { name: '', release: async () => {} };
  const sock = lockName(backend, name);
  // Nothing is served: a connection is closed at once.
  const server: Server = createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') {
        reject(new PalisadeError('PAL_ERR_LOCKED', `cannot lock ${backend} table ${name} (abstract socket @${sock}): ${e.message}`, { cause: e }));
        return;
      }
      const pid = holder(sock);
      reject(
        new PalisadeError(
          'PAL_ERR_LOCKED',
          `another palisade daemon${pid === null ? '' : ` (pid ${pid})`} already manages ${backend} table ${name}; give this one another enforce.name`,
        ),
      );
    });
    server.listen({ path: `\0${sock}`, exclusive: true }, () => resolve());
  });
  server.unref();
  server.on('error', () => {});
  let released = false;
  return {
    name: sock,
    release: () =>
      new Promise<void>((resolve) => {
        if (released) return resolve();
        released = true;
        server.close(() => resolve());
      }),
  };
}

/** The pid holding abstract socket `@sock` (from /proc/net/unix and /proc/PID/fd), or null. */
function holder(sock: string): number | null {
  try {
    // Columns: Num RefCount Protocol Flags Type St Inode Path; node pads an abstract name with
    // NULs to the whole sun_path, which the kernel shows as trailing '@'.
    const inode = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[7]?.replace(/@+$/, '') === `@${sock}`)?.[6];
    if (!inode) return null;
    const target = `socket:[${inode}]`;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return Number(pid);
        } catch {
          // gone meanwhile
        }
      }
    }
  } catch {
    // no /proc: no pid in the message
  }
  return null;
}
