// Human output of the read and operator commands (status, bans list, ban, unban, history, alerts,
// top): aligned tables and labelled lines. Every cell is escaped (escapeControl) and capped, so
// text from outside (reasons, signatures) can neither break a row nor re-colour the terminal. The
// results are read tolerantly: a missing field prints as '-', an unknown one as `key=value`.

import { capText, escapeControl } from '../core/text.js';

/** The widest a table cell may print (characters, after escaping). */
export const MAX_CELL = 64;
/** The widest the last column (the free-text reason) may print. */
export const MAX_LAST_CELL = 120;

type Row = Record<string, unknown>;

const isRow = (v: unknown): v is Row => typeof v === 'object' && v !== null && !Array.isArray(v);
const rows = (v: unknown): Row[] => (Array.isArray(v) ? v.filter(isRow) : []);

/** One value as safe one-line text: '-' when missing, JSON for objects, escaped and capped. */
export function cell(v: unknown, max = MAX_CELL): string {
  let s: string;
  if (v === undefined || v === null || v === '') s = '-';
  else if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') s = String(v);
  else s = JSON.stringify(v) ?? '-';
  return capText(escapeControl(s), max);
}

/** An aligned table with a header row; the last column is not padded. */
export function table(head: readonly string[], body: readonly (readonly string[])[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]): string =>
    head
      .map((_, i) => (i === head.length - 1 ? (r[i] ?? '') : (r[i] ?? '').padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...body.map(line)].join('\n')}\n`;
}

/** Seconds as a short span: 90061 -> "1d1h". */
export function span(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return cell(v);
  const s = Math.round(v);
  if (s >= 86400) return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

/** An ISO time to the second ("2026-12-02T07:26:11Z"); anything else as a cell. */
export function when(v: unknown): string {
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) return v.replace(/\.\d+Z$/, 'Z');
  return cell(v);
}

/** The scalar leaves of an object as `key=value` pairs (nested keys joined with dots). */
export function pairs(v: unknown, skip: readonly string[] = [], prefix = ''): string[] {
  if (!isRow(v)) return v === undefined ? [] : [`${prefix || 'value'}=${cell(v)}`];
  const out: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (skip.includes(k)) continue;
    const key = `${prefix}${escapeControl(k)}`;
    if (isRow(x)) out.push(...pairs(x, [], `${key}.`));
    else out.push(`${key}=${cell(x)}`);
  }
  return out;
}

// ---- bans ----

/** The `bans list` table. */
export function formatBans(result: unknown): string {
  const bans = rows(result);
  if (bans.length === 0) return 'no bans in force\n';
  return table(
    ['SCOPE', 'REMAINING', 'UNTIL', 'OFFENCE', 'ORIGIN', 'KIND', 'REASON'],
    bans.map((b) => [cell(b.scope), span(b.remaining), when(b.until), cell(b.offence), cell(b.origin), cell(b.kind), cell(b.reason, MAX_LAST_CELL)]),
  );
}

/** What `ban` did. */
export function formatBan(result: unknown): string {
  const b = isRow(result) ? result : {};
  return `${cell(b.scope)} banned for ${span(b.remaining)} (offence ${cell(b.offence)}, until ${when(b.until)}): ${cell(b.reason, MAX_LAST_CELL)}\n`;
}

/** What `unban` did. */
export function formatUnban(result: unknown, target: string): string {
  const lifted = rows(result);
  return lifted.length ? lifted.map((b) => `${cell(b.scope)} unbanned\n`).join('') : `${cell(target)}: no ban in force\n`;
}

// ---- history, alerts, top ----

/** The `history` report: the bans, then the notices, newest first. */
export function formatHistory(result: unknown): string {
  const h = isRow(result) ? result : {};
  const bans = rows(h.bans);
  const notices = rows(h.notices);
  let out = `${cell(h.target)}: ${bans.length} ban${bans.length === 1 ? '' : 's'}, ${notices.length} notice${notices.length === 1 ? '' : 's'}\n`;
  if (bans.length) {
    out += `\nBANS\n${table(
      ['SINCE', 'UNTIL', 'SCOPE', 'OFFENCE', 'ORIGIN', 'KIND', 'LIFTED', 'REASON'],
      bans.map((b) => {
        const l = isRow(b.lifted) ? b.lifted : null;
        return [when(b.since), when(b.until), cell(b.scope), cell(b.offence), cell(b.origin), cell(b.kind), l ? `${when(l.at)} (${cell(l.reason)})` : '-', cell(b.reason, MAX_LAST_CELL)];
      }),
    )}`;
  }
  if (notices.length) {
    out += `\nNOTICES\n${table(
      ['TIME', 'KIND', 'SEVERITY', 'DEST', 'ACTION', 'SIGNATURE', 'REASON'],
      notices.map((n) => [when(n.time), cell(n.kind), cell(n.severity), cell(n.dest ?? n.dst), cell(n.action), cell(n.signature), cell(n.reason, MAX_LAST_CELL)]),
    )}`;
  }
  return out;
}

/** The `alerts` table (newest first, as the daemon or database sends them). */
export function formatAlerts(result: unknown): string {
  const alerts = rows(result);
  if (alerts.length === 0) return 'no alerts recorded\n';
  return table(
    ['TIME', 'SRC', 'DST', 'KIND', 'SEVERITY', 'ACTION', 'SIGNATURE', 'REASON'],
    alerts.map((a) => [when(a.time), cell(a.src), cell(a.dst ?? a.dest), cell(a.kind), cell(a.severity), cell(a.action), cell(a.signature), cell(a.reason, MAX_LAST_CELL)]),
  );
}

/** The `top` table: sources by notices and bans. */
export function formatTop(result: unknown): string {
  const top = rows(result);
  if (top.length === 0) return 'no sources recorded\n';
  return table(
    ['SRC', 'NOTICES', 'BANS', 'LAST'],
    top.map((s) => [cell(s.src), cell(s.notices), cell(s.bans), when(s.last)]),
  );
}

// ---- status ----

/** A section's health word: from `healthy` (boolean) or `health` (text); '' when it says neither. */
function health(s: Row): string {
  if (typeof s.healthy === 'boolean') return s.healthy ? 'healthy' : 'UNHEALTHY';
  if (typeof s.ok === 'boolean') return s.ok ? 'healthy' : 'UNHEALTHY';
  if (isRow(s.health)) {
    const h = s.health;
    const mode = typeof h.mode === 'string' && h.mode !== 'rw' ? ` (${cell(h.mode)})` : '';
    return `${h.ok === false ? 'UNHEALTHY' : 'healthy'}${mode}`;
  }
  if (s.health !== undefined && s.health !== null) return cell(s.health);
  return '';
}

/** Words joined by a space, empty ones left out. */
const words = (...w: string[]): string => w.filter((x) => x !== '').join(' ');

/** A labelled line: `label` padded, then the text and any further `key=value` pairs. */
function labelled(label: string, text: string, rest: readonly string[] = []): string {
  return `${label.padEnd(10)}  ${[text, ...rest].filter((x) => x !== '').join('  ')}\n`;
}

const STATUS_KEYS = ['healthy', 'problems', 'warnings', 'daemon', 'pid', 'interface', 'uptime', 'packets', 'capture', 'notices', 'decide', 'enforce', 'mitigation', 'host', 'state', 'outputs', 'protected'];

/**
 * The `status` report: the daemon (or the database when none runs), counters, bans in force, the
 * firewall, the state, the outputs and the protected addresses. Sections it does not know print
 * as `key=value` lines, so a newer daemon's status never breaks an older CLI.
 */
export function formatStatus(result: unknown): string {
  const s = isRow(result) ? result : { value: result };
  let out = '';
  if (typeof s.healthy === 'boolean') {
    out += labelled('health', s.healthy ? 'healthy' : 'UNHEALTHY');
    if (Array.isArray(s.problems)) for (const p of s.problems) out += `  ${cell(p, MAX_LAST_CELL)}\n`;
  }
  if (Array.isArray(s.warnings)) for (const w of s.warnings) out += labelled('warning', cell(w, MAX_LAST_CELL));
  if (s.daemon === true) {
    out += labelled('daemon', `running (pid ${cell(s.pid)}, interface ${cell(s.interface)}, up ${span(s.uptime)})`);
  } else {
    out += labelled('daemon', s.daemon === false ? 'not running (read from the state database)' : cell(s.daemon));
  }
  if (isRow(s.capture)) {
    const c = s.capture;
    out += labelled(
      'capture',
      `${cell(c.packets)} packets, ${cell(c.kernel_drops)} dropped by the kernel, ${cell(c.ring_drops)} by Palisade's ring`,
      pairs(c, ['packets', 'kernel_drops', 'ring_drops']),
    );
  } else if ('packets' in s) out += labelled('packets', cell(s.packets));
  if ('notices' in s) out += labelled('notices', cell(s.notices));
  if (isRow(s.decide)) out += labelled('bans', `${cell(s.decide.active)} in force`, pairs(s.decide, ['active']));
  else if ('decide' in s) out += labelled('decide', cell(s.decide));
  if (isRow(s.enforce)) {
    const e = s.enforce;
    out += labelled(
      'firewall',
      words(cell(e.backend), health(e)),
      [`failures=${cell(e.failures)}`, `pending=${cell(e.pending)}`, `last_error=${cell(e.last_error, MAX_LAST_CELL)}`, ...pairs(e, ['backend', 'healthy', 'health', 'failures', 'pending', 'last_error'])],
    );
  } else if ('enforce' in s) out += labelled('firewall', cell(s.enforce));
  if (isRow(s.mitigation)) {
    const m = s.mitigation;
    const list = Array.isArray(m.in_force) ? m.in_force : [];
    const state = m.enabled === false ? 'off' : `${list.length} in force (${cell(m.backend)})`;
    out += labelled('mitigation', state, [`applied=${cell(m.applied)}`, `withdrawn=${cell(m.withdrawn)}`, `failures=${cell(m.failures)}`, ...(m.lastError ? [`last_error=${cell(m.lastError, MAX_LAST_CELL)}`] : [])]);
    for (const x of list) out += `  ${isRow(x) ? `${cell(x.id).padEnd(36)}  ${cell(x.rules, MAX_LAST_CELL)}` : cell(x)}\n`;
  }
  if (isRow(s.host)) out += labelled('syn cookies', s.host.tcp_syncookies === null ? 'unknown' : s.host.tcp_syncookies === 0 ? 'OFF (net.ipv4.tcp_syncookies=0)' : `on (net.ipv4.tcp_syncookies=${cell(s.host.tcp_syncookies)})`);
  if (isRow(s.state)) {
    const st = s.state;
    const problems = isRow(st.health) && Array.isArray(st.health.problems) ? st.health.problems.map((p) => `  ${cell(p, MAX_LAST_CELL)}\n`).join('') : '';
    out += labelled('state', words(cell(st.path, MAX_LAST_CELL), health(st)), pairs(st, ['path', 'healthy', 'health'])) + problems;
  } else if ('state' in s) out += labelled('state', s.state === null ? 'none (no persistence)' : cell(s.state));
  if (Array.isArray(s.outputs)) {
    for (const o of s.outputs) {
      out += isRow(o) ? labelled('output', words(cell(o.path, MAX_LAST_CELL), health(o)), pairs(o, ['path', 'ok', 'last_error']).concat(o.last_error ? [`last_error=${cell(o.last_error, MAX_LAST_CELL)}`] : [])) : labelled('output', cell(o));
    }
  } else if (isRow(s.outputs)) {
    for (const [name, o] of Object.entries(s.outputs)) {
      out += labelled('output', isRow(o) ? words(escapeControl(name), health(o)) : `${escapeControl(name)}=${cell(o)}`, isRow(o) ? pairs(o, ['healthy', 'health']) : []);
    }
  } else if ('outputs' in s) out += labelled('outputs', cell(s.outputs));
  if (Array.isArray(s.protected)) {
    out += labelled('protected', `${s.protected.length} address${s.protected.length === 1 ? '' : 'es'}`);
    for (const p of s.protected) out += isRow(p) ? `  ${cell(p.cidr).padEnd(24)}  ${cell(p.why, MAX_LAST_CELL)}\n` : `  ${cell(p)}\n`;
  } else if ('protected' in s) out += labelled('protected', cell(s.protected));
  for (const [k, v] of Object.entries(s)) {
    if (STATUS_KEYS.includes(k)) continue;
    if (isRow(v)) out += labelled(escapeControl(k), '', pairs(v));
    else out += labelled(escapeControl(k), Array.isArray(v) ? cell(v, MAX_LAST_CELL) : cell(v));
  }
  return out;
}
