// The scan events of each packet, read once for every scan detector, behind a per-source
// prefilter. Most sources are clients whose connections are answered: nothing they do can reach a
// scan verdict, which needs failed probes. The prefilter keeps, per initiator, a ring of its last
// probes and their outcomes in one small record. A source whose probes fail (a reset or an ICMP
// unreachable, or `ESCALATE_PENDING` probes left unanswered) is escalated: its ring is replayed to
// the detectors with the probes' own times, and from then on its events go straight through.
// Sources never escalated never touch the detectors' large tables. What this gives up: answered
// probes pushed out of the ring before a source's first failure (a scan verdict needs failures,
// so these only lowered a failure ratio), and unanswered probes of a source interleaving them
// with more than RING answered ones (at most ESCALATE_PENDING - 1 of them). `prefilter.enabled:
// false` passes every event.

import type { CidrSet } from '../core/addr.js';
import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import type { Packet } from '../core/packet.js';
import type { FlowTable } from '../flow/flow-table.js';
import { TABLE_SLACK } from './distinct.js';
import { CLOSE, PC, SE, ScanEvent } from './probe.js';

export interface PrefilterConfig {
  enabled: boolean;
  /** Initiators tracked at most; the least recently active go first. */
  max_sources: number;
}

/** Probes remembered per source before it is escalated. */
export const RING = 8;
/** Unanswered probes (in the ring, or pushed out of it unanswered) that escalate a source. */
export const ESCALATE_PENDING = 3;

// A source's record (KeyTable values, as 32-bit words from intBase): a state word, a spare word,
// then the ring, all in one record so that a probe or an answer touches the record's own lines.
// State word: escalated (bit 0), then 4-bit fields: next entry to write, entries held, entries not
// answered yet, probes pushed out of the ring unanswered (saturating).
const S_ESC = 1;
const S_HEAD = 4;
const S_N = 8;
const S_PEND = 12;
const S_LOST = 16;
const S_FIELD = 0xf;
const RING_AT = 2;
// Ring entry words: target (4), port | class << 16, source port | fingerprint << 16 | state << 21,
// probe time (f64).
const RW = 8;
const E_PC = 4;
const E_META = 5;
const E_TIME = 6;
const VALUE_WORDS = RING_AT + RING * RW;

// Ring entry state bits (in E_META from bit 21).
const R_ANS = 1;
const R_REJ = 2;
const R_HALF = 4;
const R_CONN = 8;
const R_V6 = 16;
const R_OUTCOME = R_ANS | R_REJ;
const META_STATE = 21;

const field = (st: number, at: number): number => (st >>> at) & S_FIELD;
const withField = (st: number, at: number, x: number): number => (st & ~(S_FIELD << at)) | (x << at);

export class ScanFeed {
  /** This packet's events, in order: `events[0 .. count)`. */
  readonly events: ScanEvent[];
  count = 0;
  /** Sources escalated, and the events replayed from their rings. */
  escalations = 0;
  replayed = 0;
  private readonly spare = new ScanEvent();
  private readonly table: KeyTable | null;

  constructor(
    cfg: PrefilterConfig,
    private readonly clock: Clock,
    private readonly flows: FlowTable,
    private readonly homeNet: CidrSet | null,
    /** Seconds a source's record outlives its last probe: the longest detector window. */
    private readonly idle: number,
  ) {
    this.events = Array.from({ length: RING * 3 + 1 }, () => new ScanEvent());
    this.table = cfg.enabled ? new KeyTable(4, cfg.max_sources, clock, VALUE_WORDS / 2, Math.max(TABLE_SLACK, idle / 64)) : null;
  }

  /** Reads the packet's scan event, if any, into `events`. */
  update(p: Packet): void {
    const ev = this.events[0]!;
    this.count = 0;
    if (!ev.read(p, this.flows, this.homeNet)) return;
    ev.time = this.clock.now;
    this.count = 1;
    if (this.table !== null) this.filter(ev, this.table);
  }

  private filter(ev: ScanEvent, t: KeyTable): void {
    ev.keyInitiator(t.key, 0);
    let s: number;
    if (ev.type === SE.PROBE) {
      s = t.get();
      if (t.isNew) t.ints[t.intBase(s)] = 0;
    } else {
      s = t.find();
      if (s < 0) return; // its probe was never seen (or long forgotten): let it through
    }
    const w = t.ints;
    const b = t.intBase(s);
    let st = w[b]!;
    if ((st & S_ESC) !== 0) return;
    this.count = 0;
    let absorbed = true;
    if (ev.type === SE.PROBE) st = this.remember(t, b, st, ev);
    else {
      const o = this.match(w, b, st, ev);
      absorbed = o >= 0;
      if (o >= 0) {
        if (ev.type === SE.CLOSE) w[o + E_META] |= (ev.close === CLOSE.HALF_OPEN ? R_HALF : R_CONN) << META_STATE;
        else {
          w[o + E_META] |= (ev.type === SE.ANSWER ? R_ANS : R_REJ) << META_STATE;
          st = withField(st, S_PEND, field(st, S_PEND) - 1);
        }
      }
    }
    w[b] = st;
    if (ev.type === SE.ANSWER || ev.type === SE.CLOSE) return;
    if (ev.type === SE.REJECT || field(st, S_PEND) + field(st, S_LOST) >= ESCALATE_PENDING) this.escalate(t, b, absorbed);
  }

  /** Writes a probe into the source's ring (over its oldest entry when full); the new state. */
  private remember(t: KeyTable, b: number, st: number, ev: ScanEvent): number {
    const w = t.ints;
    const e = field(st, S_HEAD);
    const o = b + RING_AT + e * RW;
    let pend = field(st, S_PEND);
    if (field(st, S_N) === RING) {
      if (((w[o + E_META]! >>> META_STATE) & R_OUTCOME) === 0) {
        pend--;
        st = withField(st, S_LOST, Math.min(S_FIELD, field(st, S_LOST) + 1));
      }
    } else st = withField(st, S_N, field(st, S_N) + 1);
    w[o] = ev.t0;
    w[o + 1] = ev.t1;
    w[o + 2] = ev.t2;
    w[o + 3] = ev.t3;
    w[o + E_PC] = ev.port | (ev.cls << 16);
    w[o + E_META] = ev.sport | (ev.fp << 16) | ((ev.v6 ? R_V6 : 0) << META_STATE);
    t.vals[(o + E_TIME) >> 1] = ev.time;
    st = withField(st, S_PEND, pend + 1);
    return withField(st, S_HEAD, (e + 1) % RING);
  }

  /** The word offset of the ring entry the answer, reject or close is about (newest first), or -1. */
  private match(w: Int32Array, b: number, st: number, ev: ScanEvent): number {
    const n = field(st, S_N);
    const head = field(st, S_HEAD);
    const pc = ev.port | (ev.cls << 16);
    for (let i = 1; i <= n; i++) {
      const o = b + RING_AT + ((head - i + RING) % RING) * RW;
      if (w[o + E_PC] !== pc || w[o] !== ev.t0 || w[o + 1] !== ev.t1 || w[o + 2] !== ev.t2 || w[o + 3] !== ev.t3) continue;
      const rs = w[o + E_META]! >>> META_STATE;
      if (ev.type === SE.CLOSE ? (rs & R_ANS) !== 0 && (rs & (R_HALF | R_CONN)) === 0 : (rs & R_OUTCOME) === 0) return o;
    }
    return -1;
  }

  /**
   * From now on the source's events go through. First its remembered probes, oldest first, each
   * with what came of it; then the current event unless the ring already holds it.
   */
  private escalate(t: KeyTable, b: number, absorbed: boolean): void {
    const w = t.ints;
    const st = w[b]!;
    w[b] = st | S_ESC;
    this.escalations++;
    const cur = this.spare;
    cur.copyFrom(this.events[0]!);
    const n = field(st, S_N);
    const head = field(st, S_HEAD);
    let k = 0;
    for (let i = n; i >= 1; i--) {
      const o = b + RING_AT + ((head - i + RING) % RING) * RW;
      const meta = w[o + E_META]!;
      const rs = meta >>> META_STATE;
      const pe = this.events[k++]!;
      pe.type = SE.PROBE;
      pe.cls = w[o + E_PC]! >>> 16;
      pe.port = w[o + E_PC]! & 0xffff;
      pe.v6 = (rs & R_V6) !== 0;
      pe.i0 = cur.i0;
      pe.i1 = cur.i1;
      pe.i2 = cur.i2;
      pe.i3 = cur.i3;
      pe.t0 = w[o]!;
      pe.t1 = w[o + 1]!;
      pe.t2 = w[o + 2]!;
      pe.t3 = w[o + 3]!;
      pe.close = 0;
      pe.time = t.vals[(o + E_TIME) >> 1]!;
      pe.sport = meta & 0xffff;
      pe.fp = (meta >>> 16) & 0x1f;
      if ((rs & R_OUTCOME) !== 0) k = this.outcome(pe, k, (rs & R_REJ) !== 0 ? SE.REJECT : SE.ANSWER, 0);
      if ((rs & (R_HALF | R_CONN)) !== 0) k = this.outcome(pe, k, SE.CLOSE, (rs & R_HALF) !== 0 ? CLOSE.HALF_OPEN : CLOSE.CONNECT);
    }
    this.replayed += k;
    if (!absorbed) this.events[k++]!.copyFrom(cur);
    this.count = k;
  }

  /** Appends the answer, reject or close of the replayed probe `pe` at `events[k]`. */
  private outcome(pe: ScanEvent, k: number, type: number, close: number): number {
    const e = this.events[k]!;
    e.copyFrom(pe);
    e.type = type;
    e.close = close;
    e.time = this.clock.now;
    if (type === SE.CLOSE) e.cls = PC.SYN;
    return k + 1;
  }

  onTick(now: number): void {
    this.table?.expire(now - this.idle);
  }

  stats(): Record<string, number> {
    const t = this.table;
    return {
      enabled: t === null ? 0 : 1,
      sources: t?.size ?? 0,
      memuse: t?.memoryBytes ?? 0,
      evicted: t?.evicted ?? 0,
      escalated: this.escalations,
      replayed: this.replayed,
    };
  }

  clear(): void {
    this.table?.clear();
  }
}
