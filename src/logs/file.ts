// Reading a log file for replay: its lines in order, in constant memory (lines.ts splits them;
// a line over MAX_LINE bytes is skipped whole and counted).

import { createReadStream, statSync } from 'node:fs';
import { PalisadeError } from '../core/errors.js';
import { LineSplitter } from './lines.js';

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
  const lines = new LineSplitter(onLine);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) lines.feed(chunk, chunk.length);
  } catch (e) {
    throw new PalisadeError('PAL_ERR_LOG_OPEN', `${path}: cannot read log file: ${(e as Error).message}`, { cause: e });
  }
  lines.end();
  return { name: path, lines: lines.lines, too_long: lines.tooLong };
}
