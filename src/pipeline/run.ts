// Running sources through the engine: capture files one after another (one continuous stream
// of packet time, like a capture split into rotated files), or a live interface until stopped.

import { FileSource } from '../capture/file-source.js';
import { LiveSource, type LiveOptions } from '../capture/live.js';
import type { PacketSource } from '../capture/source.js';
import { PalisadeError } from '../core/errors.js';
import type { LogEvent } from '../core/log-event.js';
import { readLogLines } from '../logs/file.js';
import { parseSshd } from '../logs/sshd.js';
import { parseSyslog } from '../logs/syslog.js';
import type { Engine } from './engine.js';

export interface SourceReport {
  name: string;
  format: string;
  linktypes: number[];
  packets: number;
  bytes: number;
  warnings: string[];
  error: { code: string; message: string } | null;
}

export interface ReplayHooks {
  /** Between batches: the source being read, its input position and size (0 when unknown). */
  onProgress?: (source: FileSource, position: number, size: number) => void;
}

/**
 * Runs one source to its end through the engine; a failing source is reported, not thrown. An
 * output error (PAL_ERR_OUTPUT_*, from a strict sink) and any non-Palisade error are thrown.
 */
export async function runSource(engine: Engine, src: PacketSource, onChunk?: () => void): Promise<SourceReport> {
  engine.attach(src);
  let error: SourceReport['error'] = null;
  try {
    await src.run(
      engine.packet,
      engine.process,
      onChunk
        ? () => {
            engine.onChunk();
            onChunk();
          }
        : engine.onChunk,
    );
  } catch (e) {
    // Only the source's own errors are reported here; an output fault (or a bug) stops the run.
    if (!(e instanceof PalisadeError) || e.code === 'PAL_ERR_OUTPUT_WRITE' || e.code === 'PAL_ERR_OUTPUT_OPEN') throw e;
    error = { code: e.code, message: e.message };
  }
  engine.detach(src);
  const s = src.stats();
  return {
    name: src.name,
    format: src.format,
    linktypes: [...src.linktypes],
    packets: s.packets,
    bytes: s.bytes,
    warnings: [...src.warnings],
    error,
  };
}

/** Replays capture files ("-" is stdin) in order, then log files; then finishes the engine. */
export async function replayFiles(engine: Engine, paths: readonly string[], hooks: ReplayHooks = {}, logs: readonly string[] = [], logReports: LogReport[] = []): Promise<SourceReport[]> {
  const reports: SourceReport[] = [];
  for (const path of paths) {
    const src = new FileSource(path);
    const progress = hooks.onProgress;
    reports.push(await runSource(engine, src, progress ? () => progress(src, src.position(), src.size) : undefined));
  }
  for (const path of logs) logReports.push(await replayLog(engine, path));
  engine.finish();
  return reports;
}

/** What a replayed log gave: its lines, those with a syslog prefix, sshd's, and the login events. */
export interface LogReport {
  name: string;
  filter: string;
  lines: number;
  /** Lines with no syslog prefix (counted, not read further). */
  unparsed: number;
  /** Lines of the filter's program. */
  matched: number;
  /** Login failures and successes read from them. */
  failures: number;
  successes: number;
  /** Lines over the length cap, skipped. */
  too_long: number;
}

/**
 * Replays one log file through the engine with the built-in sshd filter: each line's time is the
 * engine's clock, so replaying an old log is deterministic, like a capture. Yearless dates take
 * the file's modification year.
 */
export async function replayLog(engine: Engine, path: string): Promise<LogReport> {
  const r: LogReport = { name: path, filter: 'sshd', lines: 0, unparsed: 0, matched: 0, failures: 0, successes: 0, too_long: 0 };
  let refYear = 0;
  let refMonth = 0;
  const ev: LogEvent = { sec: 0, nsec: 0, filter: 'sshd', service: 'ssh', outcome: 0, addr: null as never, user: null, file: path, line: 0 };
  const onOpen = (mtimeMs: number): void => {
    const d = new Date(mtimeMs);
    refYear = d.getUTCFullYear();
    refMonth = d.getUTCMonth();
  };
  const stats = await readLogLines(path, onOpen, (line, n) => {
    const s = parseSyslog(line, refYear, refMonth);
    if (s === null) {
      r.unparsed++;
      return;
    }
    if (s.program !== 'sshd' && !s.program.startsWith('sshd-')) return;
    r.matched++;
    const v = parseSshd(s.message);
    if (v === null) return;
    if (v.outcome === 2) r.successes++;
    else r.failures++;
    ev.sec = s.sec;
    ev.nsec = s.nsec;
    ev.outcome = v.outcome;
    ev.addr = v.addr;
    ev.user = v.user;
    ev.line = n;
    engine.logEvent(ev);
  });
  r.lines = stats.lines;
  r.too_long = stats.too_long;
  return r;
}

export interface LiveRun {
  source: LiveSource;
  /** Resolves when capture has stopped and the engine has finished. */
  done: Promise<SourceReport>;
  stop(): void;
}

/** Opens the interface, throwing PAL_ERR_LIVE_* at once if it cannot. */
export function openLive(opts: LiveOptions, onWarning?: (msg: string) => void): LiveSource {
  const source = new LiveSource(opts);
  source.open(onWarning);
  return source;
}

/**
 * Runs the engine on an opened live source until stop(). A one-second wall-clock timer keeps
 * the clock moving when no packet arrives.
 */
export function startLive(engine: Engine, source: LiveSource): LiveRun {
  const timer = setInterval(() => {
    const ms = Date.now();
    engine.idle(Math.floor(ms / 1000), (ms % 1000) * 1e6);
    engine.onChunk();
  }, 1000);
  const done = runSource(engine, source).then((report) => {
    clearInterval(timer);
    engine.finish();
    return report;
  });
  return { source, done, stop: () => source.stop() };
}
