// Human units in config values: durations ("30s", "10m", "1h", "7d", "250ms" or a number of
// seconds) and byte sizes ("32MiB", "64MB", "1GiB" or a number of bytes).

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds for a duration value, or null when it is not one. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = DURATION.exec(v.trim());
  if (!m) return null;
  return Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!;
}

/** The shortest exact text for a number of seconds: 600 -> "10m". */
export function formatDuration(sec: number): string {
  for (const [unit, mult] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (sec >= mult && sec % mult === 0) return `${sec / mult}${unit}`;
  }
  return sec < 1 ? `${Math.round(sec * 1000)}ms` : `${sec}s`;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i;
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1048576, gb: 1e9, gib: 1073741824 };

/** Bytes for a size value, or null when it is not one. */
export function parseSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = SIZE.exec(v.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}
