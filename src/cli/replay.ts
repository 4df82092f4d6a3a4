// `palisade replay FILE...`: the live pipeline over capture files, as fast as they can be read.
// Prints a progress line on a terminal, then a summary (or one JSON document with --json).

import type { Config } from '../config/schema.js';
import type { Decision } from '../core/notice.js';
import { Outputs } from '../output/outputs.js';
import { FileSink, StreamSink } from '../output/sinks.js';
import { Engine } from '../pipeline/engine.js';
import { replayFiles, type SourceReport } from '../pipeline/run.js';
import { ProgressBar, fmtBytes, fmtInt } from './progress.js';

export interface ReplayOptions {
  json: boolean;
  /** EVE output: a file path, "-" for stdout, or undefined for none. */
  eve?: string;
  quiet: boolean;
}

interface SourceDetections {
  src_ip: string;
  kinds: string[];
  alerts: number;
  first_alert: number;
}

export interface ReplaySummary {
  version: string;
  files: SourceReport[];
  packets: number;
  bytes: number;
  seconds: number;
  pps: number;
  decoder: Record<string, number>;
  events: Record<string, number>;
  flow: Record<string, number>;
  detections: {
    notices: number;
    alerts: number;
    /** Sources the policy would ban (replay never touches the firewall). */
    bans: number;
    suppressed: number;
    trusted: number;
    by_kind: Record<string, number>;
    sources: SourceDetections[];
  };
  capture: Record<string, number>;
  peak_rss_bytes: number;
}

/** Replays files through a fresh engine and summarises what it found; prints nothing. */
export async function replaySummary(files: readonly string[], cfg: Config, opts: Pick<ReplayOptions, 'eve' | 'quiet'>, version: string): Promise<ReplaySummary> {
  const outputs = new Outputs();
  if (opts.eve === '-') outputs.add(new StreamSink(process.stdout), cfg.outputs.eve.types, false);
  else if (opts.eve) outputs.add(new FileSink(opts.eve), cfg.outputs.eve.types, false);

  const bySource = new Map<string, SourceDetections>();
  const byKind: Record<string, number> = {};
  const onDecision = (d: Decision): void => {
    if (d.action === 'ignore') return;
    const n = d.notice;
    byKind[n.kind] = (byKind[n.kind] ?? 0) + 1;
    const ip = n.src.toString();
    let s = bySource.get(ip);
    if (!s) {
      s = { src_ip: ip, kinds: [], alerts: 0, first_alert: n.tsSec + n.tsNsec / 1e9 };
      bySource.set(ip, s);
    }
    s.alerts++;
    if (!s.kinds.includes(n.kind)) s.kinds.push(n.kind);
  };

  const engine = new Engine(cfg, { outputs, onDecision });
  const bar = !opts.quiet && process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const t0 = process.hrtime.bigint();
  const reports = await replayFiles(
    engine,
    files,
    bar ? { onProgress: (src, pos, size) => bar.update(src.name, pos, size, engine.captureStats().packets) } : {},
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  bar?.clear();
  outputs.close();

  const decoder = engine.decoder.stats.counters.toFlat();
  const cap = engine.captureStats();
  const summary: ReplaySummary = {
    version,
    files: reports,
    packets: cap.packets,
    bytes: decoder.bytes ?? 0,
    seconds: Math.round(seconds * 1e6) / 1e6,
    pps: seconds > 0 ? Math.round(cap.packets / seconds) : 0,
    decoder,
    events: engine.decoder.stats.eventCounts(),
    flow: engine.flows ? engine.flows.stats() : {},
    detections: {
      notices: engine.noticeCount,
      alerts: engine.policy.alerts,
      bans: engine.policy.banned,
      suppressed: engine.policy.suppressed,
      trusted: engine.policy.trusted,
      by_kind: byKind,
      sources: [...bySource.values()],
    },
    capture: engine.captureSection(),
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  return summary;
}

export async function replayCommand(files: string[], cfg: Config, opts: ReplayOptions, version: string): Promise<{ summary: ReplaySummary; exitCode: number }> {
  const summary = await replaySummary(files, cfg, opts, version);
  const reports = summary.files;
  const failed = reports.find((r) => r.error);
  const exitCode = failed ? 3 : 0;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    printSummary(summary);
  }
  for (const r of reports) {
    for (const w of r.warnings) process.stderr.write(`palisade: warning: ${w}\n`);
    if (r.error) process.stderr.write(`palisade: ${r.error.message} [${r.error.code}]\n`);
  }
  return { summary, exitCode };
}

function printSummary(s: ReplaySummary): void {
  const out: string[] = [];
  const d = s.decoder;
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
  if (s.detections.sources.length > 10) out.push(`                  ... and ${fmtInt(s.detections.sources.length - 10)} more (see --json)`);
  process.stdout.write(`${out.join('\n')}\n`);
}
