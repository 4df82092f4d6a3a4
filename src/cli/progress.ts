// A progress line for terminals: redrawn in place on stderr at most every 150 ms (wall clock,
// which only paces the display and never reaches the engine).

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export class ProgressBar {
  private last = 0;
  private drawn = false;
  private readonly start = Date.now();

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(label: string, position: number, size: number, packets: number): void {
    const now = Date.now();
    if (now - this.last < 150) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? packets / secs : 0;
    let bar = '';
    if (size > 0) {
      const frac = Math.min(1, position / size);
      const width = 24;
      const full = Math.round(frac * width);
      bar = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% `;
    }
    const cols = this.out.columns ?? 100;
    const line = `${bar}${fmtInt(packets)} packets  ${fmtInt(rate)} pkt/s  ${label}`;
    this.out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}
