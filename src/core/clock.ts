// The engine clock. Time comes from packet timestamps only, never from the wall clock, so a
// replayed capture gives the same verdicts every time. The clock never moves backwards.

/** Read access to engine time, shared by every stage that keeps timed state. */
export interface Clock {
  /** Current packet time in seconds. */
  readonly now: number;
}

export class PacketClock implements Clock {
  /** Current time: whole seconds, nanoseconds within the second, and both as a double. */
  sec = 0;
  nsec = 0;
  now = 0;
  /** Time of the first packet seen (0 before any). */
  start = 0;
  /** Packets whose timestamp was earlier than the clock (out of order); the clock held. */
  backwards = 0;

  /** Moves the clock to a packet's timestamp when that is later than the current time. */
  advance(sec: number, nsec: number): void {
    if (sec > this.sec || (sec === this.sec && nsec > this.nsec)) {
      this.sec = sec;
      this.nsec = nsec;
      this.now = sec + nsec / 1e9;
      if (this.start === 0) this.start = this.now;
    } else if (sec < this.sec || nsec < this.nsec) {
      this.backwards++;
    }
  }

  /** Seconds of packet time since the first packet. */
  get elapsed(): number {
    return this.start === 0 ? 0 : this.now - this.start;
  }
}
