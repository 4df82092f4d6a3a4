// `palisade replay FILE...`: the live pipeline over capture files, as fast as they can be read.
// Prints a progress line on a terminal, then a summary (or one JSON document with --json).
// Outputs are strict here: an EVE or stdout write fault ends the replay with exit 5 (a closed
// pipe, EPIPE, quietly: the reader chose to stop); an EVE path that is an input is refused.

import { fstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import type { Config } from '../config/schema.js';
import { PalisadeError } from '../core/errors.js';
import type { Decision, Notice } from '../core/notice.js';
import { Outputs } from '../output/outputs.js';
import { FileSink, StreamSink } from '../output/sinks.js';
import { Engine } from '../pipeline/engine.js';
import { replayFiles, type LogReport, type SourceReport } from '../pipeline/run.js';
import { ProgressBar, fmtBytes, fmtInt } from './progress.js';

export interface ReplayOptions {
  json: boolean;
  /** EVE output: a file path, "-" for stdout, or undefined for none. */
  eve?: string;
  quiet: boolean;
  /** Log files replayed after the captures (the built-in sshd filter), their lines' times the clock. */
  logs?: readonly string[];
}

interface SourceDetections {
  src_ip: string;
  kinds: string[];
  /** The services its brute-force notices name (evidence.service). */
  services: string[];
  alerts: number;
  first_alert: number;
}

/** A flood seen in the replay, by victim (its last known state). */
export interface FloodSummary {
  id: number;
  kind: string;
  victim: string;
  port: number | null;
  start: number;
  end: number | null;
  peak_pps: number;
  peak_bps: number;
  packets: number;
  sources_est: number;
  spoofed: boolean;
  /** Whether a firewall mitigation would be put in force (spoofed or too many sources to ban). */
  mitigate: boolean;
}

export interface ReplaySummary {
  version: string;
  files: SourceReport[];
  /** The log files replayed (`--log`): lines, sshd lines, failures and successes read. */
  logs: LogReport[];
  packets: number;
  bytes: number;
  seconds: number;
  pps: number;
  decoder: Record<string, number>;
  events: Record<string, number>;
  flow: Record<string, number>;
  /** IP reassembly's counters (empty when defrag is off). */
  defrag: Record<string, number>;
  detections: {
    notices: number;
    alerts: number;
    /** Sources the policy would ban (replay never touches the firewall). */
    bans: number;
    suppressed: number;
    trusted: number;
    by_kind: Record<string, number>;
    sources: SourceDetections[];
    floods: FloodSummary[];
  };
  capture: Record<string, number>;
  peak_rss_bytes: number;
}

const STDIN_ALIASES = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

function orNull<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

const sameFile = (a: Stats | null, b: Stats | null): boolean => a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;

/**
 * Checks the inputs and the EVE path before anything is opened: stdin at most once, and the EVE
 * file never one of the inputs (same real path, same device and inode, or an alias of stdin).
 */
export function checkReplayArgs(files: readonly string[], eve: string | undefined): void {
  if (files.filter((f) => f === '-').length > 1) throw new PalisadeError('PAL_ERR_USAGE', 'stdin ("-") can be replayed only once');
  if (!eve || eve === '-') return;
  const eveStat = orNull(() => statSync(eve));
  const eveReal = orNull(() => realpathSync(eve));
  for (const f of files) {
    const clash =
      f === '-'
        ? STDIN_ALIASES.has(eve) || sameFile(orNull(() => fstatSync(0)), eveStat)
        : sameFile(orNull(() => statSync(f)), eveStat) || (eveReal !== null && orNull(() => realpathSync(f)) === eveReal);
    if (clash) throw new PalisadeError('PAL_ERR_USAGE', `--eve ${eve}: is the input ${f === '-' ? 'stdin' : f}; refusing to write events over a capture`);
  }
}

/** Writes to stdout and waits: a failed write (ENOSPC, EPIPE) is PAL_ERR_OUTPUT_WRITE. */
function writeStdout(text: string): Promise<void> {
  process.stdout.on('error', () => {}); // the write's callback gets the error
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (e) => {
      if (e) reject(new PalisadeError('PAL_ERR_OUTPUT_WRITE', `stdout: cannot write the summary: ${e.message}`, { cause: e }));
      else resolve();
    });
  });
}

const isEpipe = (e: unknown): boolean => e instanceof PalisadeError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/** Replays files through a fresh engine and summarises what it found; prints nothing. */
export async function replaySummary(files: readonly string[], cfg: Config, opts: Pick<ReplayOptions, 'eve' | 'quiet' | 'logs'>, version: string): Promise<ReplaySummary> {
  checkReplayArgs(files, opts.eve);
  const outputs = new Outputs();
  if (opts.eve === '-') outputs.add(new StreamSink(process.stdout, { strict: true }), cfg.outputs.eve.types, false);
  else if (opts.eve) outputs.add(new FileSink(opts.eve, { strict: true }), cfg.outputs.eve.types, false);

  const bySource = new Map<string, SourceDetections>();
  const byKind: Record<string, number> = {};
  const onDecision = (d: Decision): void => {
    if (d.action === 'ignore') return;
    const n = d.notice;
    byKind[n.kind] = (byKind[n.kind] ?? 0) + 1;
    const ip = n.src.toString();
    let s = bySource.get(ip);
    if (!s) {
      s = { src_ip: ip, kinds: [], services: [], alerts: 0, first_alert: n.tsSec + n.tsNsec / 1e9 };
      bySource.set(ip, s);
    }
    s.alerts++;
    if (!s.kinds.includes(n.kind)) s.kinds.push(n.kind);
    const svc = n.evidence.service;
    if (typeof svc === 'string' && !s.services.includes(svc)) s.services.push(svc);
  };

  const floods = new Map<number, FloodSummary>();
  const onFlood = (n: Notice): void => {
    const f = n.flood!;
    const e = n.evidence;
    const at = n.tsSec + n.tsNsec / 1e9;
    let r = floods.get(f.id);
    if (!r) {
      r = { id: f.id, kind: f.kind, victim: f.victim.toString(), port: f.port || null, start: at, end: null, peak_pps: 0, peak_bps: 0, packets: 0, sources_est: 0, spoofed: false, mitigate: false };
      floods.set(f.id, r);
    }
    if (f.phase === 'source') return;
    r.peak_pps = Math.max(r.peak_pps, f.peakPps);
    r.peak_bps = Math.max(r.peak_bps, f.peakBps);
    r.packets = Number(e.packets ?? r.packets);
    r.sources_est = Math.max(r.sources_est, Number(e.sources_est ?? 0));
    r.spoofed = e.spoofed === true;
    r.mitigate = f.mitigate;
    if (f.phase === 'end') r.end = at;
  };

  const engine = new Engine(cfg, { outputs, onDecision, onFlood });
  const bar = !opts.quiet && process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const t0 = process.hrtime.bigint();
  let reports: SourceReport[];
  const logReports: LogReport[] = [];
  try {
    reports = await replayFiles(
      engine,
      files,
      bar ? { onProgress: (src, pos, size) => bar.update(src.name, pos, size, engine.captureStats().packets) } : {},
      opts.logs ?? [],
      logReports,
    );
  } catch (e) {
    bar?.clear();
    try {
      outputs.close();
    } catch {
      // The first fault is the one reported.
    }
    throw e;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  bar?.clear();
  outputs.close();

  const decoder = engine.decoder.stats.counters.toFlat();
  const cap = engine.captureStats();
  const summary: ReplaySummary = {
    version,
    files: reports,
    logs: logReports,
    packets: cap.packets,
    bytes: decoder.bytes ?? 0,
    seconds: Math.round(seconds * 1e6) / 1e6,
    pps: seconds > 0 ? Math.round(cap.packets / seconds) : 0,
    decoder,
    events: engine.decoder.stats.eventCounts(),
    flow: engine.flows ? engine.flows.stats() : {},
    defrag: engine.defrag ? { ...engine.defrag.stats() } : {},
    detections: {
      notices: engine.noticeCount,
      alerts: engine.policy.alerts,
      bans: engine.policy.banned,
      suppressed: engine.policy.suppressed,
      trusted: engine.policy.trusted,
      by_kind: byKind,
      sources: [...bySource.values()],
      floods: [...floods.values()],
    },
    capture: engine.captureSection(),
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  return summary;
}

/**
 * Replays and prints: the summary (JSON with --json), then each file's warnings and error on
 * stderr, in both modes. When no input could be read at all, only the errors (exit 3). Exit 3
 * when any file failed; an output fault throws PAL_ERR_OUTPUT_* (exit 5), except a closed
 * stdout pipe (EPIPE), which ends quietly with exit 5.
 */
export async function replayCommand(files: string[], cfg: Config, opts: ReplayOptions, version: string): Promise<{ summary: ReplaySummary | null; exitCode: number }> {
  let summary: ReplaySummary;
  try {
    summary = await replaySummary(files, cfg, opts, version);
    const reports = summary.files;
    const exitCode = reports.some((r) => r.error) ? 3 : 0;
    const noneRead = reports.length > 0 && summary.logs.length === 0 && reports.every((r) => r.error && r.packets === 0);
    if (!noneRead) await writeStdout(opts.json ? `${JSON.stringify(summary)}\n` : summaryText(summary));
    for (const r of reports) {
      for (const w of r.warnings) process.stderr.write(`palisade: warning: ${w}\n`);
      if (r.error) process.stderr.write(`palisade: ${r.error.message} [${r.error.code}]\n`);
    }
    return { summary, exitCode };
  } catch (e) {
    if (isEpipe(e)) return { summary: null, exitCode: 5 };
    throw e;
  }
}

function summaryText(s: ReplaySummary): string {
  const out: string[] = [];
  const d = s.decoder;
  for (const l of s.logs) {
    out.push(`Log ${l.name}: ${fmtInt(l.lines)} lines, ${fmtInt(l.matched)} from ${l.filter}, ${fmtInt(l.failures)} failed and ${fmtInt(l.successes)} accepted logins` + (l.unparsed ? `, ${fmtInt(l.unparsed)} without a syslog prefix` : '') + (l.too_long ? `, ${fmtInt(l.too_long)} too long (skipped)` : ''));
  }
  out.push(
    `Replayed ${fmtInt(s.files.length)} file${s.files.length === 1 ? '' : 's'}: ${fmtInt(s.packets)} packets, ` +
      `${fmtBytes(s.bytes)} in ${s.seconds.toFixed(2)} s (${fmtInt(s.pps)} packets/s)`,
  );
  out.push(
    `  protocols       ipv4 ${fmtInt(d.ipv4 ?? 0)}  ipv6 ${fmtInt(d.ipv6 ?? 0)}  tcp ${fmtInt(d.tcp ?? 0)}  ` +
      `udp ${fmtInt(d.udp ?? 0)}  icmpv4 ${fmtInt(d.icmpv4 ?? 0)}  icmpv6 ${fmtInt(d.icmpv6 ?? 0)}  arp ${fmtInt(d.arp ?? 0)}`,
  );
  const ev = Object.entries(s.events);
  out.push(`  decode events   ${ev.length === 0 ? 'none' : ev.map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}`);
  const kinds = Object.entries(s.detections.by_kind);
  out.push(
    `  detections      ${fmtInt(s.detections.alerts)} alert${s.detections.alerts === 1 ? '' : 's'} from ` +
      `${fmtInt(s.detections.sources.length)} source${s.detections.sources.length === 1 ? '' : 's'}` +
      (kinds.length ? `: ${kinds.map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}` : ''),
  );
  if (s.detections.bans > 0) out.push(`  would ban       ${fmtInt(s.detections.bans)} (replay never touches the firewall)`);
  for (const src of s.detections.sources.slice(0, 10)) out.push(`                  ${src.src_ip}  ${src.kinds.join(', ')}`);
  for (const f of s.detections.floods.slice(0, 10)) {
    const port = f.port ? `:${f.port}` : '';
    out.push(`  flood           ${f.kind} -> ${f.victim}${port}  peak ${fmtInt(f.peak_pps)} pkt/s, ~${fmtInt(f.sources_est)} sources${f.spoofed ? ' (spoofed)' : ''}${f.mitigate ? ', would mitigate' : ''}`);
  }
  if (s.detections.sources.length > 10) out.push(`                  ... and ${fmtInt(s.detections.sources.length - 10)} more (see --json)`);
  for (const f of s.files) if (f.error) out.push(`  failed          ${f.error.message} [${f.error.code}]`);
  return `${out.join('\n')}\n`;
}
