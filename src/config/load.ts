// Loads and validates a YAML config file. Every problem is reported with the file, line and
// column, the key's dotted path, what was expected and what was found; all problems at once (up
// to MAX_PROBLEMS). Hostile input (huge files, devices, binary data, alias bombs, deep nesting)
// is refused with a short PAL_ERR_CONFIG_* error, never a crash or a hang.

import { isUtf8 } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, stringify, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { PalisadeError } from '../core/errors.js';
import { capText, escapeControl } from '../core/text.js';
import { applyProfile } from './profiles.js';
import { ALWAYS_TRUSTED, DURATION_SCHEMAS, configSchema, quoted, type Config } from './schema.js';
import { formatDuration } from './units.js';

type Path = readonly PropertyKey[];

/** The largest config file read: far above any real config, far below what hurts to parse. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** Problems listed in one error; the rest are counted. */
export const MAX_PROBLEMS = 20;
/** Collections nested deeper than this are refused before parsing (the parser recurses). */
export const MAX_NESTING = 100;
/** Alias expansions allowed (the yaml library's count); more is an alias bomb. */
export const MAX_ALIAS_COUNT = 100;

function pathText(path: Path): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? String(seg) : `.${String(seg)}`;
  return s;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return 'binary data';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `${quoted(v)} (a string)`;
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
    const obj = unwrap(s) as { shape?: Record<string, unknown>; _zod?: { def?: { valueType?: unknown } } } | undefined;
    s = obj?.shape ? obj.shape[String(seg)] : obj?._zod?.def?.valueType; // a record's entries share one schema
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
      (k) => `${loc(nodeAt(doc, issue.path, k))}: unknown key ${quoted(k)} in ${where} (expected one of: ${valid.join(', ')})`,
    );
  }
  const got = valueAt(data, issue.path);
  const msg = issue.code === 'custom' ? issue.message : `${issue.message}, got ${describe(got)}`;
  const atKey = issue.code === 'custom' && issue.params?.atKey === true && issue.path.length > 0;
  const node = atKey ? nodeAt(doc, issue.path.slice(0, -1), String(issue.path.at(-1))) : nodeAt(doc, issue.path);
  return [`${loc(node)}: ${pathText(issue.path) || 'the top level'}: ${msg}`];
}

/** The first MAX_PROBLEMS problems, then how many more there are. */
function capped(lines: string[], total = lines.length): string[] {
  return total <= MAX_PROBLEMS ? lines : [...lines.slice(0, MAX_PROBLEMS), `... and ${total - MAX_PROBLEMS} more problems`];
}

function configError(code: 'PAL_ERR_CONFIG_SYNTAX' | 'PAL_ERR_CONFIG_INVALID', lines: string[], total?: number): PalisadeError {
  const details = capped(lines, total);
  return new PalisadeError(code, details[0]!, { details });
}

/** The first byte that is not UTF-8 text, or -1. */
function firstNonUtf8(buf: Buffer): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i]!;
    const n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    // The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/** The bytes as text; a file holding NUL bytes or bytes that are not UTF-8 is refused in one line. */
function textOf(buf: Buffer, file: string): string {
  const nul = buf.indexOf(0);
  const bad = nul >= 0 ? nul : isUtf8(buf) ? -1 : firstNonUtf8(buf);
  if (bad >= 0) {
    const what = nul >= 0 ? 'NUL' : `0x${buf[bad]!.toString(16).padStart(2, '0')}, not UTF-8`;
    throw new PalisadeError('PAL_ERR_CONFIG_SYNTAX', `${file}: not a text file (byte ${bad} is ${what})`);
  }
  return buf.toString('utf8');
}

/**
 * Where the text nests collections deeper than MAX_NESTING, or -1. An upper bound on what the
 * parser would build: every flow bracket counts (even in strings and comments), and a line's
 * block depth is the indentations open above it plus its "- ", "? " and ": " indicators.
 */
function tooDeepAt(text: string): number {
  let flow = 0;
  const indents: number[] = [];
  for (let i = 0; i < text.length; ) {
    // Lines end at LF, as the yaml library's lexer sees them (a lone CR does not end one).
    let end = text.indexOf('\n', i);
    if (end < 0) end = text.length;
    let indent = i;
    while (indent < end && text.charCodeAt(indent) === 32) indent++;
    if (indent < end && text[indent] !== '#' && text[indent] !== '\r') {
      const col = indent - i;
      while (indents.length > 0 && indents[indents.length - 1]! >= col) indents.pop();
      indents.push(col);
    }
    let block = indents.length;
    for (let j = indent; j < end; j++) {
      const c = text[j];
      if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      else if ((c === '-' || c === '?' || c === ':') && (j + 1 === end || text[j + 1] === ' ')) block++;
      if (flow + block > MAX_NESTING) return j;
    }
    i = end + 1;
  }
  return -1;
}

/** The error for what `toJS` threw: an alias bomb, an undefined alias, or a value it cannot build. */
function toJsError(e: unknown, doc: Document, lc: LineCounter, file: string): PalisadeError {
  const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  const unresolved = /^Unresolved alias.*: (.*)$/.exec(msg);
  let at: Node | null = null;
  visit(doc, {
    Alias(_, node) {
      if (unresolved === null || node.source === unresolved[1]) {
        at = node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  const pos = (at as Node | null)?.range ? lc.linePos((at as unknown as Node).range![0]) : { line: 1, col: 1 };
  const name = unresolved ? escapeControl(capText(unresolved[1]!, 80)) : '';
  const what = unresolved
    ? `alias "*${name}" names no anchor set before it (expected "&${name}" earlier in the file)`
    : /alias count/i.test(msg)
      ? `YAML aliases expand more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`
      : `cannot build the YAML value: ${escapeControl(capText(msg, 200))}`;
  return new PalisadeError('PAL_ERR_CONFIG_SYNTAX', `${file}:${pos.line}:${pos.col}: ${what}`, { cause: e });
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
        out.push(`${file}:${pos.line}:${pos.col}: duplicate key ${quoted(String(k))} (first set at line ${lc.linePos(prev).line})`);
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
  const deep = tooDeepAt(text);
  if (deep >= 0) {
    let line = 1;
    for (let i = text.indexOf('\n'); i >= 0 && i < deep; i = text.indexOf('\n', i + 1)) line++;
    const col = deep - text.lastIndexOf('\n', deep - 1);
    throw configError('PAL_ERR_CONFIG_SYNTAX', [`${file}:${line}:${col}: collections nested more than ${MAX_NESTING} levels deep`]);
  }
  const lc = new LineCounter();
  // Plain data only: YAML 1.1 tags (!!binary, !!timestamp, !!set, ...) are not resolved, and
  // their warnings, like any other, are problems (a tag is not silently read as a string).
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false, schema: 'core', resolveKnownTags: false, logLevel: 'silent' });
  const syntax = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    const msg = e.message.split('\n')[0]!.replace('tag:yaml.org,2002:', '!!');
    return `${file}:${pos.line}:${pos.col}: ${e.name === 'YAMLWarning' ? `YAML: ${msg} (not supported in a config)` : `YAML syntax error: ${msg}`}`;
  });
  const details = [...syntax, ...duplicateKeys(doc.contents, lc, file)];
  if (details.length > 0) throw configError('PAL_ERR_CONFIG_SYNTAX', details);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (e) {
    throw toJsError(e, doc, lc, file);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data) || ArrayBuffer.isView(data)) {
    const msg = `${file}:1:1: the config must be a mapping of keys (such as "capture:" and "detect:"), got ${describe(data)}`;
    throw configError('PAL_ERR_CONFIG_INVALID', [msg]);
  }
  const r = configSchema.safeParse(applyProfile(data as Record<string, unknown>));
  if (!r.success) {
    const lines: string[] = [];
    let total = 0;
    for (const i of r.error.issues) {
      const n = i.code === 'unrecognized_keys' ? i.keys.length : 1;
      if (lines.length < MAX_PROBLEMS) {
        const some = i.code === 'unrecognized_keys' ? { ...i, keys: i.keys.slice(0, MAX_PROBLEMS - lines.length) } : i;
        lines.push(...issueLines(file, doc, lc, data, some));
      }
      total += n;
    }
    throw configError('PAL_ERR_CONFIG_INVALID', lines, total);
  }
  r.data.trusted = withAlwaysTrusted(r.data.trusted);
  return r.data;
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  EAGAIN: 'nothing to read yet (a non-blocking pipe or device)',
};

/**
 * At most MAX_CONFIG_BYTES of a file, read in chunks (a device or a FIFO is never read to its
 * end); more than that is an error. A FIFO blocks until a writer opens it, as with `cat`.
 */
function readCapped(file: string): Buffer {
  const fail = (why: string, cause?: unknown): PalisadeError =>
    new PalisadeError('PAL_ERR_CONFIG_READ', `${file}: cannot read config: ${why}`, cause === undefined ? {} : { cause });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw fail(READ_ERRORS[code] ?? (e as Error).message, e);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw fail(READ_ERRORS.EISDIR!);
    const buf = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, Math.min(65536, buf.length - n), null);
      if (r === 0) break;
      n += r;
    }
    if (n > MAX_CONFIG_BYTES) throw fail('larger than 1 MiB (a config file is a few KiB)');
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof PalisadeError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw fail(READ_ERRORS[code] ?? (e as Error).message, e);
  } finally {
    closeSync(fd);
  }
}

/** Loads a config file; the embedded defaults when `file` is undefined. */
export function loadConfig(file?: string): Config {
  if (file === undefined) return defaultConfig();
  return parseConfig(textOf(readCapped(file), file), file);
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
