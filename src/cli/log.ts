// The daemon's operational log destination: pino's JSON lines on stderr, or, when stderr is a
// terminal, one human line per record, `HH:MM:SS.mmm LEVEL msg key=value ...` (local time).
// PALISADE_LOG=json (or =human) overrides the terminal detection.

import { writeSync } from 'node:fs';
import { pino, type DestinationStream } from 'pino';
import { escapeControl } from '../core/text.js';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, shown in the line's fixed part or not at all. */
const FIXED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** One value as it prints after `key=`: bare when it is a plain word, JSON otherwise; escaped. */
function value(v: unknown): string {
  if (typeof v === 'string') return escapeControl(/^[^\s"=]+$/.test(v) ? v : JSON.stringify(v));
  if (isErr(v)) return value(v.message);
  return escapeControl(JSON.stringify(v) ?? String(v));
}

const isErr = (v: unknown): v is { message: string } =>
  typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string' && typeof (v as { stack?: unknown }).stack === 'string';

/**
 * One pino JSON line as a human line (with its newline). A line that is not a JSON object is
 * returned escaped, as it came.
 */
export function formatLogLine(line: string): string {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    r = null;
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return `${escapeControl(line.replace(/\n$/, ''))}\n`;
  const o = r as Record<string, unknown>;
  const t = new Date(typeof o.time === 'number' ? o.time : Date.now());
  const time = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = (typeof o.level === 'number' ? (LEVELS[o.level] ?? String(o.level)) : typeof o.level === 'string' ? o.level.toUpperCase() : 'INFO').padEnd(5);
  const parts = [time, level];
  if (o.msg !== undefined && o.msg !== '') parts.push(escapeControl(String(o.msg)));
  for (const [k, v] of Object.entries(o)) if (!FIXED.has(k) && v !== undefined) parts.push(`${escapeControl(k)}=${value(v)}`);
  return `${parts.join(' ')}\n`;
}

/** Whether the log should be human: PALISADE_LOG=json|human, else whether stderr is a terminal. */
export function humanLog(env: NodeJS.ProcessEnv = process.env, tty = process.stderr.isTTY === true): boolean {
  const v = env.PALISADE_LOG?.trim().toLowerCase();
  if (v === 'json') return false;
  if (v === 'human') return true;
  return tty;
}

/** A pino destination that writes each record to `fd` as a human line, synchronously. */
export function humanDestination(fd = 2): DestinationStream {
  return {
    write(chunk: string): void {
      // pino writes one record per call; split defensively in case it ever batches.
      for (const line of chunk.split('\n')) if (line !== '') writeAll(fd, formatLogLine(line));
    },
  };
}

/** Writes all of `text`, retrying a busy descriptor; a log that cannot be written is dropped, never thrown. */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  for (let tries = 0; buf.length > 0 && tries < 100; tries++) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** The `run` log destination: human on a terminal (see `humanLog`), pino's JSON otherwise. */
export function logDestination(fd = 2): DestinationStream {
  return humanLog() ? humanDestination(fd) : pino.destination({ dest: fd, sync: true });
}
