// The output stage: sends each event to every configured sink that wants its type: the EVE file,
// stdout as EVE JSON lines, or stdout as a human-readable summary on a terminal. Sink faults are
// reported through `onError` / `onRecovered` (once per fault streak) and listed by `health()`.

import type { PalisadeError } from '../core/errors.js';
import type { BanEvent, Decision } from '../core/notice.js';
import { formatAlertLine, formatBanLine, formatFloodLine, formatStatsLine } from './console.js';
import { alertEvent, banEvent, floodEvent, statsEvent, type FloodEvent } from './eve.js';
import { FileSink, StreamSink, type LineSink, type SinkHealth, type SinkOptions } from './sinks.js';

export type EventType = 'alert' | 'stats' | 'ban' | 'flood';

export interface OutputTarget {
  sink: LineSink;
  types: ReadonlySet<EventType>;
  /** Human-readable lines instead of JSON. */
  human: boolean;
}

export interface OutputsConfig {
  eve: { enabled: boolean; filename: string; types: readonly EventType[] };
  stdout: { enabled: boolean; format: 'auto' | 'json' | 'human'; types: readonly EventType[] };
}

export interface OutputsHooks {
  /** A sink began failing (PAL_ERR_OUTPUT_WRITE or PAL_ERR_OUTPUT_OPEN): once per fault streak. */
  onError?: (e: PalisadeError) => void;
  /** A failing sink works again (`path` is its file, or "-" for stdout). */
  onRecovered?: (path: string) => void;
}

export class Outputs implements OutputsHooks {
  readonly targets: OutputTarget[] = [];
  written = 0;
  onError?: (e: PalisadeError) => void;
  onRecovered?: (path: string) => void;

  constructor(hooks: OutputsHooks = {}) {
    this.onError = hooks.onError;
    this.onRecovered = hooks.onRecovered;
  }

  /**
   * Builds the sinks from config. `stdout` is the stream for the stdout output. Opening the EVE
   * file may throw PAL_ERR_OUTPUT_OPEN; after that, faults are reported, not thrown (unless strict).
   */
  static fromConfig(cfg: OutputsConfig, stdout: NodeJS.WriteStream = process.stdout, opts: SinkOptions & OutputsHooks = {}): Outputs {
    const o = new Outputs(opts);
    if (cfg.eve.enabled) o.add(new FileSink(cfg.eve.filename, opts), cfg.eve.types, false);
    if (cfg.stdout.enabled) {
      const human = cfg.stdout.format === 'human' || (cfg.stdout.format === 'auto' && stdout.isTTY === true);
      o.add(new StreamSink(stdout, opts), cfg.stdout.types, human);
    }
    return o;
  }

  add(sink: LineSink, types: readonly EventType[], human: boolean): void {
    sink.events = { onError: (e) => this.onError?.(e), onRecovered: (p) => this.onRecovered?.(p) };
    this.targets.push({ sink, types: new Set(types), human });
  }

  alert(d: Decision): void {
    this.emit('alert', () => formatAlertLine(d), () => alertEvent(d));
  }

  stats(sec: number, nsec: number, stats: Record<string, unknown>): void {
    this.emit('stats', () => formatStatsLine(stats), () => statsEvent(sec, nsec, stats));
  }

  /** A ban lifecycle change (the audit trail), to targets whose types include 'ban'. */
  ban(e: BanEvent): void {
    this.emit('ban', () => formatBanLine(e), () => banEvent(e));
  }

  /** A flood's start, update or end, or its mitigation's change, to targets whose types include 'flood'. */
  flood(e: FloodEvent): void {
    this.emit('flood', () => formatFloodLine(e), () => floodEvent(e));
  }

  private emit(type: EventType, human: () => string, eve: () => unknown): void {
    let json: string | null = null;
    for (const t of this.targets) {
      if (!t.types.has(type)) continue;
      t.sink.write(t.human ? human() : (json ??= JSON.stringify(eve())));
      this.written++;
    }
  }

  /** Every sink's fault record, for `status`. */
  health(): SinkHealth[] {
    return this.targets.map((t) => t.sink.health());
  }

  flush(): void {
    for (const t of this.targets) t.sink.flush();
  }

  /** Reopens files (SIGHUP, after logrotate moved them). */
  reopen(): void {
    for (const t of this.targets) t.sink.reopen();
  }

  close(): void {
    for (const t of this.targets) t.sink.close();
  }
}
