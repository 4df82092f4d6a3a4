// Log bytes into lines, in constant memory: chunks in, each complete line out (a trailing CR
// dropped). A line over MAX_LINE bytes (an attacker's, or binary garbage) is skipped whole and
// counted, never buffered. Shared by the file reader (replay) and the follower (live).

export const MAX_LINE = 65536;

export class LineSplitter {
  /** Lines seen, the skipped ones included, and those over MAX_LINE. */
  lines = 0;
  tooLong = 0;
  private readonly buf = Buffer.allocUnsafe(MAX_LINE);
  private len = 0;
  private skipping = false;

  constructor(private readonly onLine: (line: string, n: number) => void) {}

  /** The first `n` bytes of `b`. */
  feed(b: Buffer, n: number): void {
    let i = 0;
    while (i < n) {
      const nl = b.indexOf(10, i);
      const end = nl < 0 || nl >= n ? n : nl;
      if (this.skipping) {
        if (end < n) this.skipping = false;
      } else if (this.len + (end - i) > MAX_LINE) {
        this.lines++;
        this.tooLong++;
        this.len = 0;
        this.skipping = end >= n;
      } else if (end < n && this.len === 0) {
        // A whole line within the chunk: no copy.
        this.emit(b, i, end);
      } else {
        b.copy(this.buf, this.len, i, end);
        this.len += end - i;
        if (end < n) {
          this.emit(this.buf, 0, this.len);
          this.len = 0;
        }
      }
      i = end + 1;
    }
  }

  /** The input ended (or its file will grow no more): a last line without its newline. */
  end(): void {
    if (this.len > 0) this.emit(this.buf, 0, this.len);
    this.len = 0;
    this.skipping = false;
  }

  /** Forgets a partial line (its file was truncated under it). */
  discard(): void {
    this.len = 0;
    this.skipping = false;
  }

  private emit(b: Buffer, from: number, to: number): void {
    let end = to;
    if (end > from && b[end - 1] === 13) end--;
    this.lines++;
    this.onLine(b.toString('utf8', from, end), this.lines);
  }
}
