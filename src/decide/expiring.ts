// A map whose entries end at a time: the decide stage's suppression windows, active bans and
// offence counts. Expiry scans only when the earliest end is due, so a quiet tick costs nothing.

export class Expiring<V> {
  private readonly map = new Map<string, { until: number; value: V }>();
  private next = Infinity;

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** The end time of an entry, or 0 when absent. */
  until(key: string): number {
    return this.map.get(key)?.until ?? 0;
  }

  set(key: string, value: V, until: number): void {
    this.map.set(key, { until, value });
    if (until < this.next) this.next = until;
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  values(): IterableIterator<V> {
    const it = this.map.values();
    return (function* () {
      for (const e of it) yield e.value;
    })();
  }

  /** Removes the entries whose end is at or before `now`, passing each to `onExpired`. */
  expire(now: number, onExpired?: (value: V, key: string) => void): void {
    if (now < this.next) return;
    let next = Infinity;
    for (const [k, e] of this.map) {
      if (e.until <= now) {
        this.map.delete(k);
        onExpired?.(e.value, k);
      } else if (e.until < next) next = e.until;
    }
    this.next = next;
  }

  clear(): void {
    this.map.clear();
    this.next = Infinity;
  }
}
