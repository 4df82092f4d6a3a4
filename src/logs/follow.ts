// Following a live log file like `tail -F`, line by line, through rotation, in constant memory.
// - Rotation by rename: the path names a new file. The old file (still open) is read to its end
//   first, so that lines written to it until the logger reopened are not lost, then the new one
//   from its start.
// - copytruncate: the same file shrinks under the read position. The lines written between the
//   last read and the copy are in the copy: when `<path>.1` starts as this file did (the same
//   first bytes) and is longer than the position, it is read from there first.
// - Restarts: the position (device, inode, offset, and a fingerprint of the first bytes) is the
//   caller's to keep; given back, reading resumes there, or in `<path>.1` when the file was
//   rotated meanwhile. No line is lost or read twice.
// The caller polls (`poll()`); a line over MAX_LINE bytes is skipped whole and counted.

import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LineSplitter } from './lines.js';

/** Where a follower is: enough to resume after a restart. */
export interface LogPosition {
  dev: number;
  ino: number;
  offset: number;
  /** sha256 of the file's first FINGERPRINT bytes (hex), or '' while it is shorter. */
  fingerprint: string;
}

export interface FollowStats {
  lines: number;
  too_long: number;
  rotations: number;
  truncations: number;
  /** Lines read from the rotated copy (`<path>.1`) after a truncation or a restart. */
  recovered: number;
}

const FINGERPRINT = 256;
const CHUNK = 1 << 16;

interface Open {
  fd: number;
  dev: number;
  ino: number;
  offset: number;
  fingerprint: string;
}

export class LogFollower {
  private readonly counts = { rotations: 0, truncations: 0, recovered: 0 };
  private cur: Open | null = null;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private readonly lines: LineSplitter;
  private recovering = false;

  constructor(
    readonly path: string,
    private readonly onLine: (line: string) => void,
    /** Where to resume (a restart), or null to start at the file's end, as tail -F does. */
    resume: LogPosition | null,
    /** With no position: read the file from its start instead of its end. */
    fromStart = false,
  ) {
    this.lines = new LineSplitter((line) => {
      if (this.recovering) this.counts.recovered++;
      this.onLine(line);
    });
    this.start(resume, fromStart);
  }

  get stats(): FollowStats {
    return { lines: this.lines.lines, too_long: this.lines.tooLong, ...this.counts };
  }

  /** The position to keep for a restart (null while the file does not exist). */
  position(): LogPosition | null {
    const c = this.cur;
    return c === null ? null : { dev: c.dev, ino: c.ino, offset: c.offset, fingerprint: c.fingerprint };
  }

  /** Reads whatever was written since the last poll, through rotation and truncation. */
  poll(): void {
    if (this.cur === null) {
      this.cur = this.open(this.path, 0);
      if (this.cur === null) return;
    }
    const st = this.statPath();
    const c = this.cur;
    const size = fstatSync(c.fd).size;
    if (size < c.offset) {
      // copytruncate: what was written after our last read is at the same offset in the copy.
      this.counts.truncations++;
      this.recover(c.fingerprint, c.offset);
      this.lines.discard();
      c.offset = 0;
    }
    this.drain(c);
    if (st !== null && (st.ino !== c.ino || st.dev !== c.dev)) {
      // Renamed away: the old file is read to its end (above); the new one from its start.
      this.counts.rotations++;
      this.lines.end();
      closeSync(c.fd);
      this.cur = this.open(this.path, 0);
      if (this.cur !== null) this.drain(this.cur);
    }
    if (this.cur !== null && this.cur.fingerprint === '') this.cur.fingerprint = this.fingerprintOf(this.cur.fd);
  }

  close(): void {
    if (this.cur !== null) closeSync(this.cur.fd);
    this.cur = null;
  }

  private start(resume: LogPosition | null, fromStart: boolean): void {
    const st = this.statPath();
    if (resume === null) {
      this.cur = this.open(this.path, fromStart || st === null ? 0 : st.size);
      return;
    }
    if (st !== null && st.ino === resume.ino && st.dev === resume.dev && st.size >= resume.offset) {
      this.cur = this.open(this.path, resume.offset);
      return;
    }
    // Rotated (or truncated) while stopped: the rest of the old file is in the copy, if it is there.
    this.recover(resume.fingerprint, resume.offset);
    this.cur = this.open(this.path, 0);
  }

  /** Reads `<path>.1` from `offset` to its end when it begins as the file we were reading did. */
  private recover(fingerprint: string, offset: number): void {
    if (fingerprint === '') return;
    const copy = this.open(`${this.path}.1`, offset);
    if (copy === null) return;
    if (this.fingerprintOf(copy.fd) !== fingerprint || fstatSync(copy.fd).size <= offset) {
      closeSync(copy.fd);
      return;
    }
    this.recovering = true;
    this.drain(copy);
    this.lines.end();
    this.recovering = false;
    closeSync(copy.fd);
  }

  private statPath(): { dev: number; ino: number; size: number } | null {
    try {
      return statSync(this.path);
    } catch {
      return null;
    }
  }

  private open(path: string, offset: number): Open | null {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return null;
    }
    const st = fstatSync(fd);
    return { fd, dev: st.dev, ino: st.ino, offset: Math.min(offset, st.size), fingerprint: st.size >= FINGERPRINT ? this.fingerprintOf(fd) : '' };
  }

  private fingerprintOf(fd: number): string {
    const b = Buffer.alloc(FINGERPRINT);
    const n = readSync(fd, b, 0, FINGERPRINT, 0);
    return n < FINGERPRINT ? '' : createHash('sha256').update(b).digest('hex');
  }

  /** Reads `o` from its offset to its end, line by line. */
  private drain(o: Open): void {
    for (;;) {
      const n = readSync(o.fd, this.buf, 0, CHUNK, o.offset);
      if (n <= 0) return;
      o.offset += n;
      this.lines.feed(this.buf, n);
    }
  }
}
