// Decisions that wait for answers: a record that reached its threshold is queued with the time
// it did, and decided once the probes had `response_timeout` to be answered (or at the end of
// the input). Times are pushed in packet-clock order, so the queue is a FIFO.

export class PendingList {
  private slots: number[] = [];
  private times: number[] = [];
  private head = 0;

  push(slot: number, at: number): void {
    this.slots.push(slot);
    this.times.push(at);
  }

  get length(): number {
    return this.slots.length - this.head;
  }

  /** Hands `fn` every entry queued at or before `cutoff`, oldest first, and removes them. */
  drain(cutoff: number, fn: (slot: number, at: number) => void): void {
    while (this.head < this.slots.length && this.times[this.head]! <= cutoff) {
      const i = this.head++;
      fn(this.slots[i]!, this.times[i]!);
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.slots = [];
    this.times = [];
    this.head = 0;
  }
}

/**
 * How many of `probes`, sent evenly from `first` to `last`, were sent by `cutoff`: the probes
 * whose answers have had time to arrive.
 */
export function probesBy(probes: number, first: number, last: number, cutoff: number): number {
  if (cutoff >= last) return probes;
  if (cutoff <= first) return 0;
  return (probes * (cutoff - first)) / (last - first);
}

/** True when at least `ratio` of `probes` went unanswered (refused, or never answered). */
export function failedEnough(answered: number, probes: number, ratio: number): boolean {
  return probes > 0 && probes - Math.min(answered, probes) >= probes * ratio;
}
