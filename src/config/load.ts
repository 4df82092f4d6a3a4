// Loads and validates a YAML config file. Every problem is reported with the file, line and
// column, the key's dotted path, what was expected and what was found; all problems at once.

import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, stringify, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { PalisadeError } from '../core/errors.js';
import { applyProfile } from './profiles.js';
import { ALWAYS_TRUSTED, DURATION_SCHEMAS, configSchema, type Config } from './schema.js';
import { formatDuration } from './units.js';

type Path = readonly PropertyKey[];

function pathText(path: Path): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? String(seg) : `.${String(seg)}`;
  return s;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `${JSON.stringify(v)} (a string)`;
  return `${String(v)} (a ${typeof v})`;
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** The YAML node best matching a path (the key node of `key` inside it when given). */
function nodeAt(doc: Document, path: Path, key?: string): Node | null {
  let node: unknown = doc.contents;
  let best: Node | null = (doc.contents as Node | null) ?? null;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      node = pair.value;
      best = ((pair.value ?? pair.key) as Node | null) ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node) best = node as Node;
      else break;
    } else {
      break;
    }
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && pair.key) best = pair.key as Node;
  }
  return best;
}

/** The keys a config object accepts at a path, for "expected one of" hints. */
/** The object schema inside default/prefault/pipe wrappers, if any. */
function unwrap(x: unknown): { shape?: Record<string, unknown> } | undefined {
  let cur = x as { shape?: unknown; _zod?: { def?: { innerType?: unknown; in?: unknown } } } | undefined;
  while (cur && cur.shape === undefined && (cur._zod?.def?.innerType || cur._zod?.def?.in)) {
    cur = (cur._zod.def.innerType ?? cur._zod.def.in) as typeof cur;
  }
  return cur as { shape?: Record<string, unknown> } | undefined;
}

function keysAt(path: Path): string[] {
  let s: unknown = configSchema;
  for (const seg of path) {
    const obj = unwrap(s) as { shape?: Record<string, unknown> } | undefined;
    s = obj?.shape?.[String(seg)];
  }
  const obj = unwrap(s) as { shape?: Record<string, unknown> } | undefined;
  return obj?.shape ? Object.keys(obj.shape) : [];
}

function issueLines(file: string, doc: Document, lc: LineCounter, data: unknown, issue: z.core.$ZodIssue): string[] {
  const loc = (node: Node | null): string => {
    const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
    return `${file}:${pos.line}:${pos.col}`;
  };
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? pathText(issue.path) : 'the top level';
    const valid = keysAt(issue.path);
    return issue.keys.map(
      (k) => `${loc(nodeAt(doc, issue.path, k))}: unknown key "${k}" in ${where} (expected one of: ${valid.join(', ')})`,
    );
  }
  const got = valueAt(data, issue.path);
  const msg = issue.code === 'custom' ? issue.message : `${issue.message}, got ${describe(got)}`;
  return [`${loc(nodeAt(doc, issue.path))}: ${pathText(issue.path) || 'the top level'}: ${msg}`];
}

/** A key set twice in one mapping: located at the second, naming the first's line. */
function duplicateKeys(node: unknown, lc: LineCounter, file: string): string[] {
  const out: string[] = [];
  if (isMap(node)) {
    const first = new Map<unknown, number>();
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? pair.key.value : pair.key;
      const at = (pair.key as Node | null)?.range?.[0] ?? 0;
      const prev = first.get(k);
      if (prev !== undefined) {
        const pos = lc.linePos(at);
        out.push(`${file}:${pos.line}:${pos.col}: duplicate key "${String(k)}" (first set at line ${lc.linePos(prev).line})`);
      } else {
        first.set(k, at);
      }
      out.push(...duplicateKeys(pair.value, lc, file));
    }
  } else if (isSeq(node)) {
    for (const item of node.items) out.push(...duplicateKeys(item, lc, file));
  }
  return out;
}

/** Loopback first, then the configured entries, without repeats. */
function withAlwaysTrusted(list: readonly string[]): string[] {
  return [...new Set([...ALWAYS_TRUSTED, ...list])];
}

/** Parses and validates config text; `file` names it in messages. */
export function parseConfig(text: string, file: string): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const syntax = doc.errors.map((e) => {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${e.message.split('\n')[0]}`;
  });
  const details = [...syntax, ...duplicateKeys(doc.contents, lc, file)];
  if (details.length > 0) throw new PalisadeError('PAL_ERR_CONFIG_SYNTAX', details[0]!, { details });
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    const msg = `${file}:1:1: the config must be a mapping of keys (such as "capture:" and "detect:"), got ${describe(data)}`;
    throw new PalisadeError('PAL_ERR_CONFIG_INVALID', msg, { details: [msg] });
  }
  const r = configSchema.safeParse(applyProfile(data as Record<string, unknown>));
  if (!r.success) {
    const details = r.error.issues.flatMap((i) => issueLines(file, doc, lc, data, i));
    throw new PalisadeError('PAL_ERR_CONFIG_INVALID', details[0]!, { details });
  }
  r.data.trusted = withAlwaysTrusted(r.data.trusted);
  return r.data;
}

/** Loads a config file; the embedded defaults when `file` is undefined. */
export function loadConfig(file?: string): Config {
  if (file === undefined) return defaultConfig();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new PalisadeError('PAL_ERR_CONFIG_READ', `${file}: cannot read config: ${why}`, { cause: e });
  }
  return parseConfig(text, file);
}

/** The embedded defaults. */
export function defaultConfig(): Config {
  return parseConfig('{}', '(defaults)');
}

/** The schema inside default/prefault/optional wrappers (stops at a duration schema). */
function inner(x: unknown): { _zod?: { def?: Record<string, unknown> } } | undefined {
  let cur = x as { _zod?: { def?: { innerType?: unknown } } } | undefined;
  while (cur && !DURATION_SCHEMAS.has(cur as object) && cur._zod?.def?.innerType) cur = cur._zod.def.innerType as typeof cur;
  return cur as { _zod?: { def?: Record<string, unknown> } } | undefined;
}

/** A value under `schema` with its durations written back in units (10m, 30s, ...). */
function formatValue(schema: unknown, v: unknown): unknown {
  const s = inner(schema);
  if (DURATION_SCHEMAS.has(s as object)) return typeof v === 'number' ? formatDuration(v) : v;
  const def = s?._zod?.def;
  if (Array.isArray(v)) return def?.element ? v.map((e) => formatValue(def.element, e)) : v;
  if (v === null || typeof v !== 'object') return v;
  const node = v as Record<string, unknown>;
  const shape = unwrap(schema)?.shape;
  for (const key of Object.keys(node)) {
    const sub = shape ? shape[key] : def?.type === 'record' ? def.valueType : undefined;
    if (sub) node[key] = formatValue(sub, node[key]);
  }
  return node;
}

/** The effective config as YAML text, durations written back as 10m, 30s, ... */
export function configToYaml(c: Config): string {
  const copy = structuredClone(c) as unknown as Record<string, unknown>;
  formatValue(configSchema, copy);
  return stringify(copy, { lineWidth: 0 });
}
