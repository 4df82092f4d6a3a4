// The syslog prefix of a log line: its time, host, program and pid, and the message after them.
// Two time formats: RFC 3339 (rsyslog's file format, journalctl -o short-iso, RFC 5424) and the
// traditional "Mmm dd hh:mm:ss" (RFC 3164), which has no year: the year is the reference time's,
// or the one before for a date more than a month after it (a log read in January holds December).
// Plain string scanning, no regular expressions: every line may be an attacker's.

export interface SyslogLine {
  sec: number;
  nsec: number;
  host: string;
  program: string;
  pid: number;
  message: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const digit = (c: number): boolean => c >= 48 && c <= 57;

/** The number of `n` digits at `s[i]`, or -1. */
function num(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k);
    if (!digit(c)) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Parses `line`; `refYear` and `refMonth` (0-11) place dates that carry no year. Null when the line
 * has no syslog prefix.
 */
export function parseSyslog(line: string, refYear: number, refMonth: number): SyslogLine | null {
  let sec: number;
  let nsec = 0;
  let i: number;
  if (digit(line.charCodeAt(0))) {
    // 2026-12-03T12:00:00[.ffffff](Z|+hh:mm)
    const y = num(line, 0, 4);
    const mo = num(line, 5, 2);
    const d = num(line, 8, 2);
    const h = num(line, 11, 2);
    const mi = num(line, 14, 2);
    const se = num(line, 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 || line[4] !== '-' || line[7] !== '-' || (line[10] !== 'T' && line[10] !== ' ') || line[13] !== ':' || line[16] !== ':') return null;
    i = 19;
    if (line[i] === '.' || line[i] === ',') {
      let digits = 0;
      i++;
      while (digit(line.charCodeAt(i))) {
        if (digits < 9) nsec = nsec * 10 + (line.charCodeAt(i) - 48);
        digits++;
        i++;
      }
      if (digits === 0) return null;
      for (let k = Math.min(digits, 9); k < 9; k++) nsec *= 10;
    }
    let off = 0;
    if (line[i] === 'Z') i++;
    else if (line[i] === '+' || line[i] === '-') {
      const oh = num(line, i + 1, 2);
      const colon = line[i + 3] === ':' ? 1 : 0;
      const om = num(line, i + 3 + colon, 2);
      if (oh < 0 || om < 0) return null;
      off = (line[i] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
      i += 5 + colon;
    }
    sec = Date.UTC(y, mo - 1, d, h, mi, se) / 1000 - off;
  } else {
    // Dec  3 12:00:00
    const m = MONTHS.indexOf(line.slice(0, 3));
    if (m < 0 || line[3] !== ' ') return null;
    i = line[4] === ' ' ? 5 : 4;
    const d = digit(line.charCodeAt(i + 1)) ? num(line, i, 2) : num(line, i, 1);
    if (d < 1 || d > 31) return null;
    i += d >= 10 || line[i] === '0' ? 2 : 1;
    const h = num(line, i + 1, 2);
    const mi = num(line, i + 4, 2);
    const se = num(line, i + 7, 2);
    if (line[i] !== ' ' || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 || line[i + 3] !== ':' || line[i + 6] !== ':') return null;
    const year = m > refMonth + 1 ? refYear - 1 : refYear;
    sec = Date.UTC(year, m, d, h, mi, se) / 1000;
    i += 9;
  }
  if (line[i] !== ' ') return null;
  // host, then "program[pid]:" or "program:"
  const hostEnd = line.indexOf(' ', i + 1);
  if (hostEnd < 0) return null;
  const host = line.slice(i + 1, hostEnd);
  const colon = line.indexOf(': ', hostEnd + 1);
  if (colon < 0) return null;
  let program = line.slice(hostEnd + 1, colon);
  let pid = 0;
  const br = program.indexOf('[');
  if (br > 0 && program.endsWith(']')) {
    pid = Number(program.slice(br + 1, -1)) || 0;
    program = program.slice(0, br);
  }
  if (program.length === 0 || program.includes(' ')) return null;
  return { sec, nsec, host, program, pid, message: line.slice(colon + 2) };
}
