// Persistent state in SQLite (better-sqlite3, WAL): every ban with its lift, the notices behind
// decisions (scan history), and offence counts for escalation. The daemon writes as decisions
// happen; on start it reads back the bans still in force. The CLI reads and writes the same file
// when no daemon runs. Schema changes go through `user_version` migrations. Reading survives rows
// that are out of range (skipped and counted, or clamped); nothing malformed is ever written. The
// daemon's store (`StateStore.open`) sets a corrupt file aside, reads a read-only one, and counts
// write failures instead of throwing.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Cidr } from '../core/addr.js';
import { PalisadeError } from '../core/errors.js';
import type { Ban, BanOrigin, Decision, Lift } from '../core/notice.js';
import type { Offence } from '../decide/policy.js';

const SCHEMA_V1 = `
CREATE TABLE notices (
  id INTEGER PRIMARY KEY,
  ts REAL NOT NULL,
  src TEXT NOT NULL,
  dst TEXT,
  src_port INTEGER, dst_port INTEGER, proto INTEGER,
  kind TEXT NOT NULL,
  detector TEXT NOT NULL,
  severity INTEGER NOT NULL,
  signature TEXT NOT NULL,
  action TEXT NOT NULL,
  reason TEXT NOT NULL,
  evidence TEXT NOT NULL
);
CREATE INDEX notices_src ON notices (src, ts);
CREATE INDEX notices_ts ON notices (ts);
CREATE TABLE bans (
  id INTEGER PRIMARY KEY,
  scope TEXT NOT NULL,
  since REAL NOT NULL,
  until REAL NOT NULL,
  reason TEXT NOT NULL,
  kind TEXT NOT NULL,
  offence INTEGER NOT NULL,
  origin TEXT NOT NULL,
  notices TEXT NOT NULL,
  lifted_at REAL,
  lift_reason TEXT
);
-- One ban in force per scope: an address is never banned twice.
CREATE UNIQUE INDEX bans_in_force ON bans (scope) WHERE lifted_at IS NULL;
CREATE INDEX bans_until ON bans (until);
CREATE TABLE offences (
  scope TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  last REAL NOT NULL
);
`;

export interface BanRow {
  id: number;
  scope: string;
  since: number;
  until: number;
  reason: string;
  kind: string;
  offence: number;
  origin: string;
  notices: string;
  lifted_at: number | null;
  lift_reason: string | null;
}

export interface NoticeRow {
  id: number;
  ts: number;
  src: string;
  dst: string | null;
  src_port: number;
  dst_port: number;
  proto: number;
  kind: string;
  detector: string;
  severity: number;
  signature: string;
  action: string;
  reason: string;
  evidence: string;
}

/** The longest ban span kept on reading (ten years, as control's MAX_BAN_SECONDS): longer is clamped. */
const MAX_SPAN = 10 * 365 * 86400;

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN);
const text = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

/** A canonical scope key (`198.18.0.1/32`) for an address or CIDR as text, or null. */
function scopeKey(s: unknown): string | null {
  if (typeof s !== 'string') return null;
  const c = Cidr.parse(s.trim());
  return c ? Cidr.of(c.addr, c.prefix).toString() : null;
}

/**
 * A stored ban row made safe to use, or null when it cannot be a ban (unparseable scope, or a
 * start or end that is not a number). Clamped: an end more than ten years after the start, a
 * negative start, an offence below 1, notices that are not a JSON list of row ids (→ []), a lift
 * time that is not a number (→ the end).
 */
export function cleanBanRow(r: BanRow): BanRow | null {
  const scope = scopeKey(r.scope);
  let since = num(r.since);
  let until = num(r.until);
  if (scope === null || !Number.isFinite(since) || Number.isNaN(until) || until === -Infinity) return null;
  since = Math.max(0, since);
  until = Math.max(since, Math.min(until, since + MAX_SPAN));
  let notices = '[]';
  try {
    const n = JSON.parse(text(r.notices)) as unknown;
    if (Array.isArray(n) && n.every((x) => Number.isSafeInteger(x))) notices = JSON.stringify(n);
  } catch {
    /* clamped to [] */
  }
  const off = num(r.offence);
  const lifted = r.lifted_at === null ? null : num(r.lifted_at);
  return {
    id: num(r.id),
    scope,
    since,
    until,
    reason: text(r.reason),
    kind: text(r.kind),
    offence: Number.isFinite(off) && off >= 1 ? Math.min(Math.round(off), 1000) : 1,
    origin: text(r.origin),
    notices,
    lifted_at: lifted === null ? null : Number.isFinite(lifted) ? lifted : until,
    lift_reason: r.lift_reason === null ? null : text(r.lift_reason),
  };
}

/** A stored notice row made safe to use, or null (a time that is not a number, an unparseable source). */
export function cleanNoticeRow(r: NoticeRow): NoticeRow | null {
  const ts = num(r.ts);
  if (!Number.isFinite(ts) || Cidr.parse(text(r.src)) === null) return null;
  const int = (v: unknown): number => (Number.isFinite(num(v)) ? num(v) : 0);
  return {
    id: num(r.id),
    ts,
    src: text(r.src),
    dst: r.dst === null ? null : text(r.dst),
    src_port: int(r.src_port),
    dst_port: int(r.dst_port),
    proto: int(r.proto),
    kind: text(r.kind),
    detector: text(r.detector),
    severity: int(r.severity),
    signature: text(r.signature),
    action: text(r.action),
    reason: text(r.reason),
    evidence: text(r.evidence),
  };
}

/** A ban from a row that `cleanBanRow` returned. The origin is kept as stored (an unknown one as text). */
export function banFromRow(r: BanRow): Ban {
  const scope = Cidr.parse(r.scope)!;
  return {
    scope,
    key: scope.toString(),
    since: r.since,
    until: r.until,
    reason: r.reason,
    kind: r.kind,
    noticeIds: JSON.parse(r.notices) as number[],
    offence: r.offence,
    origin: r.origin as BanOrigin,
  };
}

/** What `health()` reports: the store's mode, what went wrong at open, and write failures since. */
export interface StoreHealth {
  ok: boolean;
  /** `rw`: the file, read and written. `ro`: read only (writes skipped, counted). `memory`: no file. */
  mode: 'rw' | 'ro' | 'memory';
  problems: string[];
  /** Where a corrupt file was moved, or null. */
  setAside: string | null;
  /** Writes that failed or were skipped (read-only) since open. */
  writeErrors: number;
  lastError: string | null;
}

export interface StoreOptions {
  /**
   * The daemon's store: a corrupt file is set aside (`<path>.corrupt-<UTC time>`) and a fresh one
   * started; a file that cannot be written is read only; no file at all gives an in-memory store.
   * Write failures of the recording methods are counted and passed to `onError`, never thrown.
   */
  recover?: boolean;
  /** Open an existing file read-only (the CLI's read commands); nothing is ever created. */
  readOnly?: boolean;
  onError?: (e: PalisadeError) => void;
}

export interface AlertQuery {
  /** Unix seconds: only notices from then on (null: all). */
  since: number | null;
  kind: string | null;
  limit: number;
}

export interface TopRow {
  src: string;
  notices: number;
  bans: number;
  last: number;
}

const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);
/** Faults at open after which the file is read through a copy in memory (no -shm possible, disk full). */
const READ_ONLY = new Set(['SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_FULL', 'SQLITE_IOERR', 'EROFS', 'EACCES', 'EPERM', 'ENOSPC']);
const codeOf = (e: unknown): string => {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? c.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1') : '';
};

/** Thrown inside `openDb` for a file that is not a sound Palisade database. */
class Corrupt extends Error {}

/** UTC time for file names: 20261202T073000Z. */
const stamp = (): string => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export class StateStore {
  db!: Database.Database;
  private st!: Record<string, Database.Statement>;
  private mode: StoreHealth['mode'] = 'rw';
  private readonly problems: string[] = [];
  private setAside: string | null = null;
  private writeErrors = 0;
  private lastError: string | null = null;
  private readonly bad = new Set<string>();

  /**
   * Opens (creating it and its folder if needed) the database at `path`; ":memory:" for none.
   * Without options any fault throws PAL_ERR_STATE (the CLI's ban and unban); see `StateStore.open`
   * for the daemon's and `StateStore.openReadOnly` for the CLI's read commands.
   */
  constructor(
    readonly path: string,
    private readonly opts: StoreOptions = {},
  ) {
    try {
      if (path === ':memory:') {
        this.mode = 'memory';
        this.db = this.openDb(path, false);
      } else if (opts.readOnly) {
        this.db = this.openReadOnly();
      } else if (opts.recover) {
        this.db = this.openRecovering();
      } else {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        this.db = this.openDb(path, false);
      }
    } catch (e) {
      if (e instanceof PalisadeError) throw e;
      throw new PalisadeError('PAL_ERR_STATE', `${path}: cannot open the state database: ${(e as Error).message}`, { cause: e });
    }
    this.prepare();
  }

  /** The daemon's store (see `StoreOptions.recover`); throws only for a newer schema (PAL_ERR_STATE). */
  static open(path: string, opts: Omit<StoreOptions, 'recover' | 'readOnly'> = {}): StateStore {
    return new StateStore(path, { ...opts, recover: true });
  }

  /** The CLI's read-only store, or null when there is no database (nothing is created). */
  static openReadOnly(path: string): StateStore | null {
    return existsSync(path) ? new StateStore(path, { readOnly: true }) : null;
  }

  /** Opens and checks one database; throws Corrupt for a file that is not a sound one. */
  private openDb(path: string | Buffer, readonly: boolean): Database.Database {
    let db: Database.Database;
    try {
      db = typeof path === 'string' && readonly ? new Database(path, { readonly: true, fileMustExist: true }) : new Database(path);
    } catch (e) {
      if (CORRUPT.has(codeOf(e))) throw new Corrupt((e as Error).message);
      throw e;
    }
    try {
      if (typeof path === 'string' && path !== ':memory:' && !readonly) {
        chmodSync(path, 0o600); // attack history: root's business
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      }
      db.pragma('busy_timeout = 5000');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Corrupt(`integrity check: ${String(check)}`);
      this.migrate(db, readonly && typeof path === 'string');
      if (typeof path === 'string' && !readonly) db.pragma('user_version = 1'); // a write: fails now if the file is read-only
      return db;
    } catch (e) {
      db.close();
      if (CORRUPT.has(codeOf(e))) throw new Corrupt((e as Error).message);
      throw e;
    }
  }

  private migrate(db: Database.Database, readonly: boolean): void {
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > 1) throw new PalisadeError('PAL_ERR_STATE', `${this.path}: the database is from a newer Palisade (schema ${v}); this one knows 1`);
    if (v === 0) {
      // An empty file opened read-only: its copy in memory gets the tables (see copyInMemory).
      if (readonly) throw Object.assign(new Error('an empty database'), { code: 'SQLITE_READONLY' });
      db.exec(`BEGIN; ${SCHEMA_V1} PRAGMA user_version = 1; COMMIT;`);
    }
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
    const missing = ['bans', 'notices', 'offences'].filter((t) => !tables.has(t));
    if (missing.length) throw new Corrupt(`schema unreadable: no table ${missing.join(', ')}`);
  }

  /**
   * A copy in memory of a database that cannot be opened in place (a read-only folder cannot
   * hold the WAL's -shm file). Its write-ahead log holds the newest changes when the last run
   * could not checkpoint (a full disk): the file and its log are copied to a private folder and
   * opened there, so SQLite replays the log, then serialized into memory. Without a log, or if
   * that fails, the file's bytes alone, marked as a rollback-journal database.
   */
  private copyInMemory(): Database.Database {
    if (existsSync(`${this.path}-wal`)) {
      let dir: string | null = null;
      try {
        dir = mkdtempSync(join(tmpdir(), 'palisade-state-'));
        const copy = join(dir, 'state.db');
        copyFileSync(this.path, copy);
        copyFileSync(`${this.path}-wal`, `${copy}-wal`);
        const replay = new Database(copy);
        try {
          replay.pragma('journal_mode = DELETE'); // checkpoints the log into the file
          return this.openDb(replay.serialize(), false);
        } finally {
          replay.close();
        }
      } catch (e) {
        // The bytes alone below, without the log's newest changes: said, not silent.
        this.problems.push(`${this.path}-wal: the write-ahead log could not be replayed (${(e as Error).message}); its newest changes are not restored`);
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    }
    const bytes = readFileSync(this.path);
    if (bytes.length >= 20) bytes[18] = bytes[19] = 1;
    return this.openDb(bytes, false);
  }

  private openReadOnly(): Database.Database {
    this.mode = 'ro';
    try {
      try {
        return this.openDb(this.path, true);
      } catch (e) {
        if (e instanceof Corrupt || e instanceof PalisadeError || !READ_ONLY.has(codeOf(e))) throw e;
        return this.copyInMemory();
      }
    } catch (e) {
      if (e instanceof Corrupt) throw new PalisadeError('PAL_ERR_STATE', `${this.path}: the state database is corrupt (${e.message})`, { cause: e });
      throw e;
    }
  }

  private openRecovering(): Database.Database {
    const path = this.path;
    const degrade = (why: string): Database.Database => {
      this.problems.push(why);
      this.mode = 'memory';
      return this.openDb(':memory:', false);
    };
    try {
      // Only when missing: on a read-only filesystem mkdir fails even for a folder that exists.
      if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } catch (e) {
      return degrade(`${dirname(path)}: cannot create the state folder (${(e as Error).message}); state is kept in memory only`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return this.openDb(path, false);
      } catch (e) {
        if (e instanceof PalisadeError) throw e; // a newer schema: refuse rather than misread
        if (e instanceof Corrupt && attempt === 0) {
          const aside = `${path}.corrupt-${stamp()}`;
          try {
            renameSync(path, aside);
            for (const x of ['-wal', '-shm']) if (existsSync(path + x)) renameSync(path + x, aside + x);
          } catch (r) {
            return degrade(`${path}: the state database is corrupt (${e.message}) and cannot be set aside (${(r as Error).message}); state is kept in memory only`);
          }
          this.setAside = aside;
          this.problems.push(`${path}: the state database was corrupt (${e.message}); set aside as ${aside}, a fresh one started`);
          continue;
        }
        if (!(e instanceof Corrupt) && READ_ONLY.has(codeOf(e)) && existsSync(path)) {
          try {
            const db = this.copyInMemory();
            this.mode = 'ro';
            this.problems.push(`${path}: the state database is read-only (${(e as Error).message}); bans are restored but nothing new is recorded`);
            return db;
          } catch (r) {
            if (r instanceof PalisadeError) throw r;
            return degrade(`${path}: the state database cannot be read (${(r as Error).message}); state is kept in memory only`);
          }
        }
        return degrade(`${path}: cannot open the state database (${(e as Error).message}); state is kept in memory only`);
      }
    }
  }

  private prepare(): void {
    const db = this.db;
    this.st = {
      notice: db.prepare(
        `INSERT INTO notices (ts, src, dst, src_port, dst_port, proto, kind, detector, severity, signature, action, reason, evidence)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      liftScope: db.prepare('UPDATE bans SET lifted_at = ?, lift_reason = ? WHERE scope = ? AND lifted_at IS NULL'),
      ban: db.prepare(
        `INSERT INTO bans (scope, since, until, reason, kind, offence, origin, notices) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      offence: db.prepare(
        `INSERT INTO offences (scope, count, last) VALUES (?, ?, ?)
         ON CONFLICT (scope) DO UPDATE SET count = excluded.count, last = excluded.last`,
      ),
      // Rows whose end is not a number sort after every number in SQLite: they are selected and
      // skipped (counted) by cleanBanRow.
      inForce: db.prepare('SELECT * FROM bans WHERE lifted_at IS NULL AND until > ? ORDER BY since'),
      expireOld: db.prepare(
        "UPDATE bans SET lifted_at = until, lift_reason = 'expired' WHERE lifted_at IS NULL AND typeof(until) IN ('integer', 'real') AND until <= ?",
      ),
      offences: db.prepare('SELECT scope AS key, count, last FROM offences WHERE last > ?'),
      lastBan: db.prepare('SELECT * FROM bans WHERE scope = ? ORDER BY id DESC'),
    };
  }

  /** Mode, problems found at open, and write failures since. */
  health(): StoreHealth {
    return {
      ok: this.problems.length === 0 && this.writeErrors === 0,
      mode: this.mode,
      problems: [...this.problems],
      setAside: this.setAside,
      writeErrors: this.writeErrors,
      lastError: this.lastError,
    };
  }

  /** Stored rows skipped on reading because they cannot be a ban, notice or offence (distinct rows). */
  get badRows(): number {
    return this.bad.size;
  }

  private clean<R extends { id: number }>(table: string, rows: R[], f: (r: R) => R | null): R[] {
    const out: R[] = [];
    for (const r of rows) {
      const c = f(r);
      if (c) out.push(c);
      else this.bad.add(`${table}:${String(r.id)}`);
    }
    return out;
  }

  /**
   * Runs a write. A malformed value (PalisadeError from validation) always throws. Other
   * failures (disk full, read-only) throw PAL_ERR_STATE, except in the daemon's store, which
   * counts them, passes them to `onError` and returns `fallback`. A read-only store skips writes.
   */
  private write<T>(what: string, fn: () => T, fallback: T): T {
    if (this.mode === 'ro') {
      this.writeErrors++;
      this.lastError = `${this.path}: read-only: ${what} not recorded`;
      if (!this.opts.recover) throw new PalisadeError('PAL_ERR_STATE', this.lastError);
      return fallback;
    }
    try {
      return fn();
    } catch (e) {
      if (e instanceof PalisadeError) throw e;
      const err = new PalisadeError('PAL_ERR_STATE', `${this.path}: cannot record ${what}: ${(e as Error).message}`, { cause: e });
      if (!this.opts.recover) throw err;
      this.writeErrors++;
      this.lastError = err.message;
      this.opts.onError?.(err);
      return fallback;
    }
  }

  /** Stores a decision's notice; for a ban also the ban (lifting any row it replaces) and the offence. Returns the notice row (-1: not recorded). */
  recordDecision(d: Decision): number {
    const n = d.notice;
    const ts = n.tsSec + n.tsNsec / 1e9;
    const nums = [ts, n.srcPort, n.dstPort, n.proto, n.severity];
    if (!nums.every(Number.isFinite)) throw new PalisadeError('PAL_ERR_STATE', `refused to store a notice with a value out of range (${nums.join(', ')})`);
    let evidence: string;
    try {
      evidence = JSON.stringify(n.evidence) ?? 'null';
    } catch (e) {
      throw new PalisadeError('PAL_ERR_STATE', `refused to store a notice whose evidence is not JSON (${(e as Error).message})`, { cause: e });
    }
    if (d.ban) validBan(d.ban);
    return this.write(
      'a decision',
      () =>
        this.db.transaction(() => {
          const r = this.st.notice!.run(ts, n.src.toString(), n.dst ? n.dst.toString() : null, n.srcPort, n.dstPort, n.proto, n.kind, n.detector, n.severity, n.signature, d.action, d.reason, evidence);
          const rowid = Number(r.lastInsertRowid);
          if (d.ban) this.insertBan(d.ban, [rowid]);
          return rowid;
        })(),
      -1,
    );
  }

  /** Inserts a validated ban (throws PAL_ERR_STATE, writing nothing, for a malformed one). */
  private insertBan(b: Ban, noticeRows: number[]): void {
    validBan(b);
    this.st.liftScope!.run(b.since, 'superseded', b.key);
    this.st.ban!.run(b.key, b.since, b.until, b.reason, b.kind, b.offence, b.origin, JSON.stringify(noticeRows));
    this.st.offence!.run(b.key, b.offence, b.since);
  }

  /** Stores a ban that no notice caused (an operator's, an adopted one), with its origin as given. */
  recordBan(b: Ban): void {
    validBan(b);
    this.write('a ban', () => this.db.transaction(() => this.insertBan(b, []))(), undefined);
  }

  recordLift(l: Lift): void {
    if (!Number.isFinite(l.at)) throw new PalisadeError('PAL_ERR_STATE', `${l.ban.key}: refused to store a lift at ${l.at}`);
    this.write('a lift', () => this.st.liftScope!.run(l.at, l.reason, l.ban.key), undefined);
  }

  /**
   * Bans in force at `now`; rows left in force past their end (a crash) are closed as expired
   * (not in a read-only store). Rows that cannot be a ban are skipped and counted (`badRows`).
   */
  bansInForce(now: number): Ban[] {
    if (this.mode !== 'ro') this.write('expiries', () => this.st.expireOld!.run(now), undefined);
    return this.clean('bans', this.st.inForce!.all(now) as BanRow[], cleanBanRow)
      .filter((r) => r.until > now)
      .map(banFromRow);
  }

  /**
   * The newest row for exactly `scope` (an address or CIDR; lifted or not), or null when there is
   * none: for reconciling a firewall element with the database at start. Bad rows are skipped.
   */
  lastBan(scope: string): BanRow | null {
    const key = scopeKey(scope);
    if (key === null) return null;
    return this.clean('bans', this.st.lastBan!.all(key) as BanRow[], cleanBanRow)[0] ?? null;
  }

  offences(since: number): Offence[] {
    const rows = this.st.offences!.all(since) as (Offence & { id?: number })[];
    const out: Offence[] = [];
    for (const r of rows) {
      const key = scopeKey(r.key);
      const count = num(r.count);
      const last = num(r.last);
      if (key === null || !Number.isFinite(count) || !Number.isFinite(last)) this.bad.add(`offences:${text(r.key)}`);
      else out.push({ key, count: Math.max(1, Math.min(Math.round(count), 1000)), last });
    }
    return out;
  }

  /** Deletes notices, and bans lifted, before `before`; returns how many rows went. */
  prune(before: number): number {
    return this.write(
      'a prune',
      () => {
        const a = this.db.prepare('DELETE FROM notices WHERE ts < ?').run(before).changes;
        const b = this.db.prepare('DELETE FROM bans WHERE lifted_at IS NOT NULL AND lifted_at < ?').run(before).changes;
        const c = this.db.prepare('DELETE FROM offences WHERE last < ?').run(before).changes;
        return a + b + c;
      },
      0,
    );
  }

  /** Notices from an address and bans covering it, newest first (bad rows skipped). */
  history(addr: Cidr, limit = 100): { notices: NoticeRow[]; bans: BanRow[] } {
    const a = addr.addr;
    const max = a.v6 ? 128 : 32;
    const scopes: string[] = [];
    for (let p = 0; p <= max; p++) scopes.push(Cidr.of(a, p).toString());
    const rows = this.db.prepare(`SELECT * FROM bans WHERE scope IN (${scopes.map(() => '?').join(',')}) ORDER BY since DESC LIMIT ?`).all(...scopes, limit) as BanRow[];
    const bans = this.clean('bans', rows, cleanBanRow);
    const notices = addr.isHost
      ? this.clean('notices', this.db.prepare('SELECT * FROM notices WHERE src = ? ORDER BY ts DESC LIMIT ?').all(a.toString(), limit) as NoticeRow[], cleanNoticeRow)
      : this.clean('notices', this.db.prepare('SELECT * FROM notices ORDER BY ts DESC LIMIT 100000').all() as NoticeRow[], cleanNoticeRow)
          .filter((r) => addr.overlaps(Cidr.parse(r.src)!))
          .slice(0, limit);
    return { notices, bans };
  }

  /** Recent notices reported as alerts or bans, newest first. */
  alerts(q: AlertQuery): NoticeRow[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM notices WHERE action IN ('alert', 'ban') AND typeof(ts) IN ('integer', 'real') AND ts >= ?
         AND (? IS NULL OR kind = ?) ORDER BY ts DESC, id DESC LIMIT ?`,
      )
      .all(q.since ?? -Infinity, q.kind, q.kind, q.limit) as NoticeRow[];
    return this.clean('notices', rows, cleanNoticeRow);
  }

  /** Sources by how many notices they caused (then by how many of those banned them), since `since`. */
  top(q: { since: number | null; limit: number }): TopRow[] {
    const rows = this.db
      .prepare(
        `SELECT min(id) AS id, src, count(*) AS notices, sum(action = 'ban') AS bans, max(ts) AS last FROM notices
         WHERE typeof(ts) IN ('integer', 'real') AND ts >= ? GROUP BY src ORDER BY notices DESC, bans DESC, src LIMIT ?`,
      )
      .all(q.since ?? -Infinity, q.limit) as (TopRow & { id: number })[];
    return this.clean('notices', rows, (r) => (Cidr.parse(text(r.src)) === null ? null : r)).map(({ src, notices, bans, last }) => ({ src, notices, bans, last }));
  }

  counts(): Record<string, number> {
    const one = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      notices: one('SELECT count(*) AS n FROM notices'),
      bans: one('SELECT count(*) AS n FROM bans'),
      offenders: one('SELECT count(*) AS n FROM offences'),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Throws PAL_ERR_STATE for a ban that must not be stored: a scope or a time out of range. */
function validBan(b: Ban): void {
  const bad = (what: string): never => {
    throw new PalisadeError('PAL_ERR_STATE', `${String(b.key)}: refused to store a ban with ${what}`);
  };
  if (scopeKey(b.key) !== b.key) bad('an unparseable scope');
  if (!Number.isFinite(b.since) || b.since < 0) bad(`a start out of range (${b.since})`);
  if (!Number.isFinite(b.until) || b.until < b.since) bad(`an end out of range (${b.until})`);
  if (!Number.isSafeInteger(b.offence) || b.offence < 1) bad(`an offence out of range (${b.offence})`);
  if (typeof b.reason !== 'string' || typeof b.kind !== 'string' || typeof b.origin !== 'string') bad('a reason, kind or origin that is not text');
  if (!b.noticeIds.every(Number.isSafeInteger)) bad('notice ids that are not integers');
}
