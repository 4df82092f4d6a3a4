// Reading a log file for replay: its lines in order, in constant memory. A line over MAX_LINE
// bytes (an attacker's, or binary garbage) is skipped whole and counted, never buffered.

import { createReadStream, statSync } from 'node:fs';
import { PalisadeError } from '../core/errors.js';

export const MAX_LINE = 65536;

export interface LogFileStats {
  name: string;
  lines: number;
  /** Lines over MAX_LINE bytes, skipped. */
  too_long: number;
}

/**
 * Calls `onOpen(mtimeMs)` once (the file's modification time places yearless dates), then
 * `onLine(text, number)` for every line of `path`.
 */
export async function readLogLines(path: string, onOpen: (mtimeMs: number) => void, onLine: (line: string, n: number) => void): Promise<LogFileStats> {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch (e) {
    throw new PalisadeError('PAL_ERR_LOG_OPEN', `${path}: cannot read log file: ${(e as Error).message}`, { cause: e });
  }
  onOpen(mtimeMs);
  const stats = { name: path, lines: 0, too_long: 0 };
  const buf = Buffer.allocUnsafe(MAX_LINE);
  let len = 0;
  let skipping = false;
  const emit = (b: Buffer, from: number, to: number) => {
    stats.lines++;
    let end = to;
    if (end > from && b[end - 1] === 13) end--;
    onLine(b.toString('utf8', from, end), stats.lines);
  };
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      let i = 0;
      while (i < chunk.length) {
        const nl = chunk.indexOf(10, i);
        const end = nl < 0 ? chunk.length : nl;
        if (skipping) {
          if (nl >= 0) skipping = false;
        } else if (len + (end - i) > MAX_LINE) {
          stats.lines++;
          stats.too_long++;
          len = 0;
          skipping = nl < 0;
        } else if (nl >= 0 && len === 0) {
          emit(chunk, i, end);
        } else {
          chunk.copy(buf, len, i, end);
          len += end - i;
          if (nl >= 0) {
            emit(buf, 0, len);
            len = 0;
          }
        }
        i = nl < 0 ? chunk.length : nl + 1;
      }
    }
  } catch (e) {
    throw new PalisadeError('PAL_ERR_LOG_OPEN', `${path}: cannot read log file: ${(e as Error).message}`, { cause: e });
  }
  if (len > 0) emit(buf, 0, len);
  return stats;
}
