// Running sources through the engine: capture files one after another (one continuous stream
// of packet time, like a capture split into rotated files), or a live interface until stopped.

import { FileSource } from '../capture/file-source.js';
import { LiveSource, type LiveOptions } from '../capture/live.js';
import type { PacketSource } from '../capture/source.js';
import { PalisadeError } from '../core/errors.js';
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

/** Replays capture files ("-" is stdin) in order, then finishes the engine. */
export async function replayFiles(engine: Engine, paths: readonly string[], hooks: ReplayHooks = {}): Promise<SourceReport[]> {
  const reports: SourceReport[] = [];
  for (const path of paths) {
    const src = new FileSource(path);
    const progress = hooks.onProgress;
    reports.push(await runSource(engine, src, progress ? () => progress(src, src.position(), src.size) : undefined));
  }
  engine.finish();
  return reports;
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
