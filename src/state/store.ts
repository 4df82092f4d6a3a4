// Persistent state in SQLite (better-sqlite3, WAL): every ban with its lift, the notices behind
// decisions (scan history), and offence counts for escalation. The daemon writes as decisions
// happen; on start it reads back the bans still in force. The CLI reads and writes the same file
// when no daemon runs. Schema changes go through `user_version` migrations.

import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
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

export class StateStore {
  readonly db: Database.Database;
  private readonly st: Record<string, Database.Statement>;

  /** Opens (creating it and its folder if needed) the database at `path`; ":memory:" for none. */
  constructor(readonly path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.db = new Database(path);
      if (path !== ':memory:') chmodSync(path, 0o600); // attack history: root's business
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (e) {
      if (e instanceof PalisadeError) throw e;
      throw new PalisadeError('PAL_ERR_STATE', `${path}: cannot open the state database: ${(e as Error).message}`, { cause: e });
    }
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
      inForce: db.prepare('SELECT * FROM bans WHERE lifted_at IS NULL AND until > ? ORDER BY since'),
      expireOld: db.prepare("UPDATE bans SET lifted_at = until, lift_reason = 'expired' WHERE lifted_at IS NULL AND until <= ?"),
      offences: db.prepare('SELECT scope AS key, count, last FROM offences WHERE last > ?'),
    };
  }

  private migrate(): void {
    const v = this.db.pragma('user_version', { simple: true }) as number;
    if (v > 1) throw new PalisadeError('PAL_ERR_STATE', `${this.path}: the database is from a newer Palisade (schema ${v}); this one knows 1`);
    if (v === 0) {
      this.db.exec(`BEGIN; ${SCHEMA_V1} PRAGMA user_version = 1; COMMIT;`);
    }
  }

  /** Stores a decision's notice; for a ban also the ban (lifting any row it replaces) and the offence. */
  recordDecision(d: Decision): number {
    const n = d.notice;
    const tx = this.db.transaction(() => {
      const r = this.st.notice!.run(
        n.tsSec + n.tsNsec / 1e9,
        n.src.toString(),
        n.dst ? n.dst.toString() : null,
        n.srcPort,
        n.dstPort,
        n.proto,
        n.kind,
        n.detector,
        n.severity,
        n.signature,
        d.action,
        d.reason,
        JSON.stringify(n.evidence),
      );
      const rowid = Number(r.lastInsertRowid);
      if (d.ban) this.insertBan(d.ban, [rowid]);
      return rowid;
    });
    return tx();
  }

  private insertBan(b: Ban, noticeRows: number[]): void {
    this.st.liftScope!.run(b.since, 'superseded', b.key);
    this.st.ban!.run(b.key, b.since, b.until, b.reason, b.kind, b.offence, b.origin, JSON.stringify(noticeRows));
    this.st.offence!.run(b.key, b.offence, b.since);
  }

  /** Stores a ban that no notice caused (an operator's). */
  recordBan(b: Ban): void {
    this.db.transaction(() => this.insertBan(b, []))();
  }

  recordLift(l: Lift): void {
    this.st.liftScope!.run(l.at, l.reason, l.ban.key);
  }

  /** Bans in force at `now`; rows left in force past their end (a crash) are closed as expired. */
  bansInForce(now: number): Ban[] {
    this.st.expireOld!.run(now);
    return (this.st.inForce!.all(now) as BanRow[]).map(banFromRow);
  }

  offences(since: number): Offence[] {
    return this.st.offences!.all(since) as Offence[];
  }

  /** Deletes notices, and bans lifted, before `before`; returns how many rows went. */
  prune(before: number): number {
    const a = this.db.prepare('DELETE FROM notices WHERE ts < ?').run(before).changes;
    const b = this.db.prepare('DELETE FROM bans WHERE lifted_at IS NOT NULL AND lifted_at < ?').run(before).changes;
    const c = this.db.prepare('DELETE FROM offences WHERE last < ?').run(before).changes;
    return a + b + c;
  }

  /** Notices from an address and bans covering it, newest first. */
  history(addr: Cidr, limit = 100): { notices: NoticeRow[]; bans: BanRow[] } {
    const a = addr.addr;
    const max = a.v6 ? 128 : 32;
    const scopes: string[] = [];
    for (let p = 0; p <= max; p++) scopes.push(Cidr.of(a, p).toString());
    const bans = (this.db.prepare(`SELECT * FROM bans WHERE scope IN (${scopes.map(() => '?').join(',')}) ORDER BY since DESC LIMIT ?`).all(...scopes, limit) as BanRow[]);
    const notices = addr.isHost
      ? (this.db.prepare('SELECT * FROM notices WHERE src = ? ORDER BY ts DESC LIMIT ?').all(a.toString(), limit) as NoticeRow[])
      : (this.db.prepare('SELECT * FROM notices ORDER BY ts DESC LIMIT 100000').all() as NoticeRow[])
          .filter((r) => {
            const s = Cidr.parse(r.src);
            return s !== null && addr.overlaps(s);
          })
          .slice(0, limit);
    return { notices, bans };
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
