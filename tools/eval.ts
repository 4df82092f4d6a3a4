// `npm run eval -- DIR [-c CONFIG] [--profile NAME] [--json]`: replays every capture listed in
// DIR/labels.json through the engine and scores the detections against the ground truth. Each
// attacker of a scan kind (*_scan, sweep, os_fingerprint) must be reported with that kind (and
// any listed under "also"); each victim of a flood kind must be reported as the victim of a flood
// of that kind; no innocent, benign-file or below-threshold source may be reported at all.
// Each attacker of a brute-force file must be reported as `bruteforce` against the labelled
// service. Label corrections kept in tools/eval-corrections.json (each with its evidence) are
// applied over labels.json, and the table marks the rows they touch. Exits 1 on any miss or
// false positive, 2 on bad arguments or labels.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { defaultConfig, loadConfig, parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { replaySummary } from '../src/cli/replay.js';
import { FLOOD_KINDS } from '../src/detect/flood.js';

interface Label {
  kind: string;
  service?: string;
  also?: string[];
  attackers?: string[];
  innocent?: string[];
  below_threshold?: string[];
  benign?: boolean;
  victims?: string[];
}

export interface EvalRow {
  file: string;
  expected: string;
  status: 'scored' | 'skipped' | 'missing';
  attackers: { ip: string; detected: string[]; hit: boolean }[];
  false_positives: { ip: string; role: string; kinds: string[] }[];
  /** Flagged sources the labels say nothing about. */
  others: number;
  /** Why the row's label was corrected (tools/eval-corrections.json), when it was. */
  corrected?: string;
}

export interface EvalResult {
  rows: EvalRow[];
  tp: number;
  fn: number;
  fp: number;
  precision: number;
  recall: number;
}

/** Kinds this evaluation scores; other labelled kinds wait for their issues. */
export function isScanKind(kind: string): boolean {
  return kind.endsWith('_scan') || kind === 'sweep' || kind === 'os_fingerprint' || kind === 'none' || kind === 'bruteforce';
}

/** Corrections to labels.json, by file: replacement fields and why (tools/eval-corrections.json). */
function corrections(): Record<string, Partial<Label> & { why: string }> {
  const path = new URL('../../tools/eval-corrections.json', import.meta.url);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, Partial<Label> & { why: string }>) : {};
}

/** Flood kinds: their labels list victims, not attackers. */
export function isFloodKind(kind: string): boolean {
  return (FLOOD_KINDS as readonly string[]).includes(kind);
}

export async function evaluate(dir: string, configFile?: string, profile?: string): Promise<EvalResult> {
  const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as Record<string, Label | string>;
  const fixes = corrections();
  const cfg = profile ? configWithProfile(configFile, profile) : configFile ? loadConfig(configFile) : defaultConfig();
  const rows: EvalRow[] = [];
  let tp = 0;
  let fn = 0;
  let fp = 0;
  for (const [file, given] of Object.entries(labels)) {
    if (file.startsWith('_') || typeof given !== 'object') continue;
    const fix = fixes[file];
    const label: Label = fix ? { ...given, ...fix } : given;
    const expected = [label.kind, ...(label.also ?? [])].join('+') + (label.service ? ` (${label.service})` : '');
    const row: EvalRow = { file, expected, status: 'scored', attackers: [], false_positives: [], others: 0, corrected: fix?.why };
    rows.push(row);
    if (!isScanKind(label.kind) && !isFloodKind(label.kind)) {
      row.status = 'skipped';
      continue;
    }
    const path = join(dir, file);
    if (!existsSync(path)) {
      row.status = 'missing';
      fn += (label.attackers?.length ?? 0) + (label.victims?.length ?? 0);
      continue;
    }
    const summary = await replaySummary([path], cfg, { quiet: true }, 'eval');
    const flagged = new Map(summary.detections.sources.map((s) => [s.src_ip, s.kinds]));
    const services = new Map(summary.detections.sources.map((s) => [s.src_ip, s.services]));
    const want = [label.kind, ...(label.also ?? [])];
    for (const ip of isFloodKind(label.kind) ? (label.victims ?? []) : []) {
      const kinds = [...new Set(summary.detections.floods.filter((f) => f.victim === ip).map((f) => f.kind))];
      const hit = want.every((k) => kinds.includes(k));
      row.attackers.push({ ip, detected: kinds, hit });
      if (hit) tp++;
      else fn++;
    }
    // A flood's alerts name its top sources, spoofed ones included: they are the flood's, not false positives.
    if (isFloodKind(label.kind)) for (const [ip, kinds] of [...flagged]) if (kinds.every((k) => isFloodKind(k))) flagged.delete(ip);
    for (const ip of label.attackers ?? []) {
      const kinds = flagged.get(ip) ?? [];
      const hit = want.every((k) => kinds.includes(k)) && (label.service === undefined || (services.get(ip) ?? []).includes(label.service));
      row.attackers.push({ ip, detected: kinds, hit });
      if (hit) tp++;
      else fn++;
      flagged.delete(ip);
    }
    const judged: [string, string][] = [
      ...(label.innocent ?? []).map((ip): [string, string] => [ip, 'innocent']),
      ...(label.below_threshold ?? []).map((ip): [string, string] => [ip, 'below_threshold']),
    ];
    if (label.benign) for (const ip of flagged.keys()) judged.push([ip, 'benign']);
    for (const [ip, role] of judged) {
      const kinds = flagged.get(ip);
      if (!kinds) continue;
      row.false_positives.push({ ip, role, kinds });
      fp++;
      flagged.delete(ip);
    }
    row.others = flagged.size;
  }
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  return { rows, tp, fn, fp, precision, recall };
}

/** The config file (or the defaults) with `profile` set, validated as usual. */
function configWithProfile(configFile: string | undefined, profile: string): Config {
  const raw = (configFile ? parse(readFileSync(configFile, 'utf8')) : null) ?? {};
  return parseConfig(stringify({ ...raw, profile }), configFile ?? '--profile');
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatTable(r: EvalResult): string {
  const lines: string[] = [];
  lines.push(`${pad('file', 58)} ${pad('expected', 24)} ${pad('attackers or victims (detected kinds)', 52)} false positives`);
  for (const row of r.rows) {
    let att: string;
    if (row.status === 'skipped') att = 'skipped (later issue)';
    else if (row.status === 'missing') att = 'MISSING FILE';
    else if (row.attackers.length === 0) att = '-';
    else att = row.attackers.map((a) => `${a.hit ? 'hit' : 'MISS'} ${a.ip} (${a.detected.join(',') || 'nothing'})`).join('; ');
    const fps = row.status !== 'scored' ? '' : row.false_positives.length === 0 ? 'none' : row.false_positives.map((f) => `FP ${f.ip} ${f.role} (${f.kinds.join(',')})`).join('; ');
    const others = row.others > 0 ? ` [+${row.others} unlabelled sources flagged]` : '';
    const fixed = row.corrected ? ' [label corrected*]' : '';
    lines.push(`${pad(row.file, 58)} ${pad(row.expected, 24)} ${pad(att, 52)} ${fps}${others}${fixed}`);
  }
  const notes = r.rows.filter((row) => row.corrected);
  if (notes.length > 0) lines.push('', ...notes.map((row) => `* ${row.file}: ${row.corrected}`));
  lines.push('');
  lines.push(
    `attackers and victims detected ${r.tp}/${r.tp + r.fn}, false positives ${r.fp}; ` +
      `precision ${r.precision.toFixed(3)}, recall ${r.recall.toFixed(3)}`,
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, json: { type: 'boolean' } },
  });
  const dir = positionals[0];
  if (!dir || !existsSync(join(dir, 'labels.json'))) {
    process.stderr.write('usage: npm run eval -- DIR [-c CONFIG] [--profile normal|aggressive|paranoid] [--json]\n  DIR must hold labels.json\n');
    return 2;
  }
  const r = await evaluate(dir, values.config, values.profile);
  process.stdout.write(values.json ? `${JSON.stringify(r)}\n` : `${formatTable(r)}\n`);
  return r.fn === 0 && r.fp === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`eval: ${e.message}\n`);
      process.exit(2);
    },
  );
}
