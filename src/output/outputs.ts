// The output stage: sends each event to every configured sink that wants its type: the EVE file,
// stdout as EVE JSON lines, or stdout as a human-readable summary on a terminal.

import type { Decision } from '../core/notice.js';
import { formatAlertLine, formatStatsLine } from './console.js';
import { alertEvent, statsEvent } from './eve.js';
import { FileSink, StreamSink, type LineSink } from './sinks.js';

export type EventType = 'alert' | 'stats' | 'ban';

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

export class Outputs {
  readonly targets: OutputTarget[] = [];
  written = 0;

  /** Builds the sinks from config. `stdout` is the stream for the stdout output. */
  static fromConfig(cfg: OutputsConfig, stdout: NodeJS.WriteStream = process.stdout): Outputs {
    const o = new Outputs();
    if (cfg.eve.enabled) o.add(new FileSink(cfg.eve.filename), cfg.eve.types, false);
    if (cfg.stdout.enabled) {
      const human = cfg.stdout.format === 'human' || (cfg.stdout.format === 'auto' && stdout.isTTY === true);
      o.add(new StreamSink(stdout), cfg.stdout.types, human);
    }
    return o;
  }

  add(sink: LineSink, types: readonly EventType[], human: boolean): void {
    this.targets.push({ sink, types: new Set(types), human });
  }

  alert(d: Decision): void {
    let json: string | null = null;
    for (const t of this.targets) {
      if (!t.types.has('alert')) continue;
      if (t.human) t.sink.write(formatAlertLine(d));
      else t.sink.write((json ??= JSON.stringify(alertEvent(d))));
      this.written++;
    }
  }

  stats(sec: number, nsec: number, stats: Record<string, unknown>): void {
    let json: string | null = null;
    for (const t of this.targets) {
      if (!t.types.has('stats')) continue;
      if (t.human) t.sink.write(formatStatsLine(stats));
      else t.sink.write((json ??= JSON.stringify(statsEvent(sec, nsec, stats))));
      this.written++;
    }
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
