// IP reassembly (IPv4 and IPv6): holds fragments per datagram, resolves overlaps with the
// destination's policy exactly as Suricata's defrag.c does, and when a datagram is complete
// rebuilds it (the first fragment's link-layer bytes + the whole IP datagram) in its own buffer and
// re-decodes the packet struct from there. Pure: no I/O, time is passed in, every bound counted.

import type { Clock } from '../core/clock.js';
import { KeyTable } from '../core/key-table.js';
import { PF, type Packet } from '../core/packet.js';
import { Decoder } from '../decode/decoder.js';
import { EV } from '../decode/events.js';
import { DecodeStats, raise } from '../decode/stats.js';
import { DEFRAG_POLICIES, POL, PolicyTable, policyCode, type DefragPolicy } from './policy.js';
import { BLOCK, FF_MORE, FragStore } from './store.js';

export { DEFRAG_POLICIES, type DefragPolicy } from './policy.js';

export interface DefragConfig {
  /** Seconds (packet time) a datagram may wait for its next fragment. */
  timeout: number;
  /** Bytes of fragment storage (fixed 128-byte blocks, headers included). */
  memcap: number;
  /** Datagrams being reassembled at once. */
  max_trackers: number;
  /** Fragments held for one datagram. */
  max_frags: number;
  /** Overlap policy for destinations no entry of `policies` holds. */
  policy: DefragPolicy;
  /** Per-destination policies (the longest prefix holding the destination wins). */
  policies: { cidr: string; policy: DefragPolicy }[];
}

export const DEFRAG_DEFAULTS: Readonly<DefragConfig> = Object.freeze({
  timeout: 60,
  memcap: 32 * 1024 * 1024,
  max_trackers: 65535,
  max_frags: 256,
  policy: 'linux',
  policies: [],
});

/** Smallest memcap accepted: one datagram of the largest size always fits. */
export const MIN_MEMCAP = 128 * 1024;

export interface DefragStats {
  /** Datagrams being reassembled now, the bytes their fragments hold (and the cap), fragments held. */
  trackers: number;
  memuse: number;
  memcap: number;
  fragments_held: number;
  /** Fragments pushed, in total. */
  fragments: number;
  /** Datagrams rebuilt (and per family). */
  reassembled: number;
  reassembled_ipv4: number;
  reassembled_ipv6: number;
  /** Datagrams dropped incomplete after `timeout`. */
  timeouts: number;
  /** Fragments overlapping held data with different bytes (the overlap event), or the same bytes. */
  overlaps: number;
  duplicates: number;
  /** First fragments holding only part of the transport header, and fragments past the datagram's end. */
  tiny: number;
  after_end: number;
  /** Datagrams dropped to stay under the memcap (or fragments that could not fit at all). */
  dropped_memcap: number;
  /** Datagrams dropped because `max_trackers` were in progress (the least recently used one). */
  dropped_max_trackers: number;
  /** Datagrams dropped for holding `max_frags` fragments. */
  dropped_max_frags: number;
  /** Fragments (and datagrams) refused for ending past 65,535 bytes. */
  dropped_oversize: number;
  /** Fragments not reassembled by design: inside a tunnel, cut by the snaplen, empty, or already rebuilt. */
  ignored: number;
}

// Key words: 4 source, 4 destination, the IP id, then protocol | version | VLAN count, VLAN ids.
const KEY_WORDS = 11;

// Tracker flags.
const TF_SEEN_LAST = 1;
const TF_OVERLAP = 2;
const TF_TINY = 4;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Room for the largest datagram plus an IPv6 header and any link layer. */
const BUF_SIZE = 65535 + 40 + 1024;

// Insertion outcomes of one step of Suricata's overlap walk.
const STEP_NEXT = 0;
const STEP_INSERT = 1;
const STEP_DONE = 2;

class MutableClock implements Clock {
  now = 0;
}

export class Defrag {
  readonly config: Readonly<DefragConfig>;
  private readonly timeout: number;
  private readonly maxFrags: number;
  private readonly policies: PolicyTable;
  private readonly clock = new MutableClock();
  private readonly table: KeyTable;
  private readonly store: FragStore;
  /** The main decoder's stats: defrag events are raised into its event counters. */
  private readonly s: DecodeStats;
  /** Re-decodes rebuilt datagrams: scratch packet counters, the main decoder's event counters. */
  private readonly scratch: Decoder;
  /** The reassembly buffer a rebuilt packet's `data` points to (until the next rebuild). */
  private readonly buf = Buffer.alloc(BUF_SIZE);

  // Per tracker slot.
  private readonly tHead: Int32Array;
  private readonly tCount: Int32Array;
  private readonly tEnd: Int32Array;
  private readonly tMaxEnd: Int32Array;
  private readonly tFlags: Uint8Array;
  private readonly tPolicy: Uint8Array;
  private readonly tV6: Uint8Array;
  private readonly tProto: Uint8Array;
  // Least recently used order of the trackers (most recent at the head), for eviction.
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private lruHead = -1;
  private lruTail = -1;

  private fragsHeld = 0;
  /** Why a tracker is being removed: counted by onRemove. */
  private removing = 0;
  /** The first defrag event raised on the packet being pushed, and how many (re-attached after a rebuild). */
  private pendEv = -1;
  private pendN = 0;
  private readonly st: DefragStats = {
    trackers: 0,
    memuse: 0,
    memcap: 0,
    fragments_held: 0,
    fragments: 0,
    reassembled: 0,
    reassembled_ipv4: 0,
    reassembled_ipv6: 0,
    timeouts: 0,
    overlaps: 0,
    duplicates: 0,
    tiny: 0,
    after_end: 0,
    dropped_memcap: 0,
    dropped_max_trackers: 0,
    dropped_max_frags: 0,
    dropped_oversize: 0,
    ignored: 0,
  };

  /**
   * `decoder`: the pipeline's decoder (or its stats). Events raised here and on rebuilt datagrams
   * count in its event counters; its packet, byte and protocol counters never see a rebuilt one.
   */
  constructor(decoder: Decoder | DecodeStats, config: Partial<DefragConfig> = {}) {
    const c: DefragConfig = { ...DEFRAG_DEFAULTS, ...config, policies: [...(config.policies ?? DEFRAG_DEFAULTS.policies)] };
    if (!(Number.isFinite(c.timeout) && c.timeout >= 1 && c.timeout <= 86400)) throw new RangeError(`defrag timeout must be 1 s to 24 h, not ${c.timeout}`);
    if (!(Number.isInteger(c.memcap) && c.memcap >= MIN_MEMCAP && c.memcap <= 2 ** 31)) throw new RangeError(`defrag memcap must be ${MIN_MEMCAP} bytes to 2 GiB, not ${c.memcap}`);
    if (!(Number.isInteger(c.max_trackers) && c.max_trackers >= 1 && c.max_trackers <= 1 << 22)) throw new RangeError(`defrag max_trackers must be 1 to ${1 << 22}, not ${c.max_trackers}`);
    if (!(Number.isInteger(c.max_frags) && c.max_frags >= 1 && c.max_frags <= 8192)) throw new RangeError(`defrag max_frags must be 1 to 8192, not ${c.max_frags}`);
    if (!DEFRAG_POLICIES.includes(c.policy)) throw new RangeError(`unknown defrag policy: ${String(c.policy)} (one of ${DEFRAG_POLICIES.join(', ')})`);
    this.config = Object.freeze(c);
    this.timeout = c.timeout;
    this.maxFrags = c.max_frags;
    this.policies = new PolicyTable(policyCode(c.policy), c.policies);
    this.s = decoder instanceof Decoder ? decoder.stats : decoder;
    this.scratch = new Decoder(new DecodeStats(this.s.events));
    this.store = new FragStore(c.memcap);
    this.st.memcap = this.store.blocks * BLOCK;
    const n = c.max_trackers;
    this.table = new KeyTable(KEY_WORDS, n, this.clock);
    this.table.onRemove = (slot, reason) => this.onRemove(slot, reason);
    this.tHead = new Int32Array(n);
    this.tCount = new Int32Array(n);
    this.tEnd = new Int32Array(n);
    this.tMaxEnd = new Int32Array(n);
    this.tFlags = new Uint8Array(n);
    this.tPolicy = new Uint8Array(n);
    this.tV6 = new Uint8Array(n);
    this.tProto = new Uint8Array(n);
    this.lruPrev = new Int32Array(n);
    this.lruNext = new Int32Array(n);
  }

  /**
   * Takes a decoded fragment (`p.flags & PF.FRAG`). Returns false when no datagram is complete:
   * the fragment is held, or dropped and counted. Returns true when it completed its datagram:
   * `p` then holds the rebuilt packet (from this object's buffer, valid until the next call),
   * decoded, with PF.REASSEMBLED, `fragCount`, the link layer and link type of the first fragment
   * and the timestamp of this one.
   */
  push(p: Packet, now: number): boolean {
    if ((p.flags & PF.FRAG) === 0) return false;
    const st = this.st;
    st.fragments++;
    if ((p.flags & (PF.REASSEMBLED | PF.SNAPPED | PF.TUNNEL)) !== 0 || p.ipLayers !== 1 || p.l3Off < 0) {
      st.ignored++;
      return false;
    }
    this.clock.now = now;
    this.pendEv = -1;
    this.pendN = 0;
    const b = p.data;
    const l3 = p.l3Off;
    const v6 = p.ipVer === 6;
    let dataStart: number;
    let hdrEnd: number;
    let proto: number;
    if (v6) {
      if (p.fragHdrOff < 0) {
        st.ignored++;
        return false;
      }
      dataStart = p.fragHdrOff + 8;
      hdrEnd = p.fragHdrOff;
      proto = b[p.fragHdrOff]!;
    } else {
      dataStart = l3 + ((b[l3]! & 15) << 2);
      hdrEnd = dataStart;
      proto = p.ipProto;
    }
    const dataLen = l3 + p.ipLen - dataStart;
    const fo = p.fragOff;
    const fe = fo + dataLen;
    // The decoder raised frag_pkt_too_large on these (Suricata's limits).
    if ((v6 ? fe : 20 + fe) > 65535) {
      st.dropped_oversize++;
      return false;
    }
    if (dataLen <= 0) {
      st.ignored++; // Suricata ignores empty fragments
      return false;
    }

    const slot = this.tracker(p, v6, proto, now);
    const more = p.fragMore !== 0;

    // Anomalies (counted and raised; the data still goes through the policy below).
    let flags = this.tFlags[slot]!;
    let afterEnd = false;
    const end = this.tEnd[slot]!;
    if (end >= 0 && fe > end) afterEnd = true;
    if (!more && end < 0) {
      this.tEnd[slot] = fe;
      if (this.tMaxEnd[slot]! > fe) afterEnd = true;
    }
    if (fe > this.tMaxEnd[slot]!) this.tMaxEnd[slot] = fe;
    if (afterEnd) {
      st.after_end++;
      this.ev(p, v6 ? EV.IPV6_FRAG_AFTER_END : EV.IPV4_FRAG_AFTER_END);
    }
    if (fo === 0 && (flags & TF_TINY) === 0 && this.tinyFirst(b, dataStart, dataLen, proto)) {
      flags |= TF_TINY;
      st.tiny++;
      this.ev(p, v6 ? EV.IPV6_FRAG_TINY : EV.IPV4_FRAG_TINY);
    }
    const ov = this.overlap(slot, b, dataStart, fo, fe);
    if (ov === 2) {
      flags |= TF_OVERLAP;
      st.overlaps++;
      this.ev(p, v6 ? EV.IPV6_FRAG_OVERLAP : EV.IPV4_FRAG_OVERLAP);
    } else if (ov === 1) {
      st.duplicates++;
    }
    this.tFlags[slot] = flags;

    if (this.tCount[slot]! >= this.maxFrags) {
      st.dropped_max_frags++;
      this.ev(p, EV.DEFRAG_MAX_FRAGS);
      this.table.delete(slot);
      return false;
    }

    // Suricata's DefragInsertFrag: walk the held fragments and trim by policy.
    const f = this.store;
    let ltrim = 0;
    let step = STEP_NEXT;
    const head = this.tHead[slot]!;
    if (head >= 0) {
      const policy = this.tPolicy[slot]!;
      // RB_NFIND(offset - 1) with uint16 wrap-around, then its predecessor.
      const keyOff = (fo - 1) & 0xffff;
      let pred = -1;
      let nf = head;
      while (nf >= 0 && !(f.off[nf]! > keyOff)) {
        pred = nf;
        nf = f.next[nf]!;
      }
      let prev: number;
      let next: number;
      if (nf < 0) {
        prev = head;
        next = f.next[head]!;
      } else if (pred < 0) {
        prev = nf;
        next = f.next[nf]!;
      } else {
        prev = pred;
        next = nf;
      }
      while (prev >= 0) {
        const pOff = f.off[prev]!;
        const pLen = f.len[prev]!;
        const pLt = f.ltrim[prev]!;
        let skipPrev = false;
        step = STEP_NEXT;
        switch (policy) {
          case POL.BSD:
            if (fo < pOff + pLen) {
              if (pOff <= fo) {
                const prevEnd = pOff + pLen;
                if (prevEnd > fe) {
                  step = STEP_DONE;
                  break;
                }
                ltrim = prevEnd - fo;
                if (next >= 0 && fe > f.off[next]!) f.ltrim[next] = fe - f.off[next]!;
                step = STEP_INSERT;
                break;
              }
              if (fo <= pOff && fe > pOff + pLt) {
                const prevLtrim = fe - pOff;
                if (prevLtrim > pLt) f.ltrim[prev] = prevLtrim;
              }
              if (next >= 0 && fe > f.off[next]!) f.ltrim[next] = fe - f.off[next]!;
              step = STEP_INSERT;
            }
            break;
          case POL.LINUX:
            if (pOff + pLt < fo + ltrim && pOff + pLen > fo + ltrim) ltrim = (ltrim + pOff + pLen - fo) & 0xffff;
            if (fo + ltrim < pOff + pLt && fe > pOff + pLt) {
              f.ltrim[prev] = (pLt + fe - (pOff + pLt)) & 0xffff;
              step = STEP_INSERT;
              break;
            }
            if (fo + ltrim <= pOff + pLt && fe >= pOff + pLen) {
              skipPrev = true;
              step = STEP_INSERT;
            }
            break;
          case POL.WINDOWS:
            if (fo + ltrim >= pOff + ltrim && fe <= pOff + pLen) {
              step = STEP_DONE;
              break;
            }
            if (fo + ltrim < pOff + ltrim && fe > pOff + pLen) {
              skipPrev = true;
              step = STEP_INSERT;
              break;
            }
            if (fo + ltrim > pOff + pLt && fo + ltrim < pOff + pLen) {
              ltrim = (ltrim + pOff + pLen - fo) & 0xffff;
              step = STEP_INSERT;
              break;
            }
            if (fo + ltrim === pOff + ltrim && fe > pOff + pLen) {
              ltrim = (ltrim + pOff + pLen - fo) & 0xffff;
              step = STEP_INSERT;
            }
            break;
          case POL.SOLARIS:
            if (fo < pOff + pLen) {
              if (fo >= pOff) ltrim = pOff + pLen - fo;
              if (fo < pOff && fe >= pOff + pLen) skipPrev = true;
              step = STEP_INSERT;
            }
            break;
          case POL.FIRST:
            if (fo >= pOff && fe <= pOff + pLen) {
              step = STEP_DONE;
              break;
            }
            if (fo < pOff) {
              step = STEP_INSERT;
              break;
            }
            if (fo < pOff + pLen) {
              ltrim = pOff + pLen - fo;
              step = STEP_INSERT;
            }
            break;
          case POL.LAST:
            if (fo <= pOff) {
              if (fe > pOff) f.ltrim[prev] = fe - pOff;
              step = STEP_INSERT;
            }
            break;
        }
        if (step === STEP_DONE) break;
        if (step === STEP_INSERT) {
          // A held fragment trimmed away completely is dropped now.
          if (skipPrev || f.ltrim[prev]! >= f.len[prev]!) this.unlinkFrag(slot, prev);
          break;
        }
        prev = next;
        if (next >= 0) next = f.next[next]!;
      }
    }
    // Everything it carries is already held, and the policy keeps the old data.
    if (step === STEP_DONE || ltrim >= dataLen) return false;

    // Store it: the first fragment keeps its frame from the start up to its data.
    const first = fo + ltrim === 0;
    const hdrLen = first ? hdrEnd - p.off : 0;
    const need = FragStore.blocksFor(hdrLen + dataLen - ltrim);
    if (!this.room(slot, need, p)) {
      if (this.tHead[slot]! < 0) this.table.delete(slot);
      return false;
    }
    const rec = first ? f.put(b, p.off, hdrEnd, b, dataStart, dataStart + dataLen) : f.put(b, 0, 0, b, dataStart + ltrim, dataStart + dataLen);
    f.off[rec] = fo + ltrim;
    f.len[rec] = dataLen - ltrim;
    f.ltrim[rec] = 0;
    f.flags[rec] = more ? FF_MORE : 0;
    f.hdr[rec] = hdrLen;
    if (first) {
      f.l3[rec] = l3 - p.off;
      f.nh[rec] = v6 ? p.fragNhOff - p.off : -1;
      f.linktype[rec] = p.linktype;
      f.ifIndex[rec] = p.ifIndex;
    }
    this.linkFrag(slot, rec);
    if (!more) this.tFlags[slot]! |= TF_SEEN_LAST;
    if ((this.tFlags[slot]! & TF_SEEN_LAST) === 0) return false;
    const covered = this.complete(slot);
    return covered >= 0 && this.rebuild(slot, p, covered);
  }

  /** Expires datagrams whose last fragment came more than `timeout` seconds before `now`. */
  tick(now: number): void {
    this.clock.now = now;
    this.table.expire(now - this.timeout);
  }

  stats(): DefragStats {
    const st = this.st;
    st.trackers = this.table.size;
    st.memuse = this.store.used * BLOCK;
    st.fragments_held = this.fragsHeld;
    return { ...st };
  }

  /** Drops every datagram in progress (not counted as timeouts); counters are kept. */
  clear(): void {
    this.removing = 0;
    this.table.clear();
    this.store.reset();
    this.fragsHeld = 0;
  }

  // --- trackers --------------------------------------------------------------------------------

  /** The tracker slot for the fragment's datagram, created (within the caps) when new. */
  private tracker(p: Packet, v6: boolean, proto: number, now: number): number {
    const t = this.table;
    const k = t.key;
    k[0] = p.src0;
    k[1] = p.src1;
    k[2] = p.src2;
    k[3] = p.src3;
    k[4] = p.dst0;
    k[5] = p.dst1;
    k[6] = p.dst2;
    k[7] = p.dst3;
    k[8] = p.ipId;
    k[9] = proto | (v6 ? 0x100 : 0) | (p.vlanCount << 9);
    k[10] = p.vlanCount === 0 ? 0 : (p.vlanId0 | (p.vlanCount > 1 ? p.vlanId1 << 12 : 0));
    let slot = t.find();
    if (slot >= 0 && now - t.lastSeen(slot) > this.timeout) {
      this.removing = 1; // timed out: counted as such
      t.delete(slot);
      slot = -1;
    }
    if (slot < 0 && t.size === t.capacity) {
      t.expire(now - this.timeout);
      if (t.size === t.capacity) {
        this.st.dropped_max_trackers++;
        this.ev(p, EV.DEFRAG_MAX_TRACKERS);
        t.delete(this.lruTail);
      }
    }
    slot = t.get();
    if (t.isNew) {
      this.tHead[slot] = -1;
      this.tCount[slot] = 0;
      this.tEnd[slot] = -1;
      this.tMaxEnd[slot] = 0;
      this.tFlags[slot] = 0;
      this.tV6[slot] = v6 ? 1 : 0;
      this.tProto[slot] = proto;
      this.tPolicy[slot] = this.policies.lookup(p.dst0, p.dst1, p.dst2, p.dst3);
      this.lruLinkHead(slot);
    } else if (this.lruHead !== slot) {
      this.lruUnlink(slot);
      this.lruLinkHead(slot);
    }
    return slot;
  }

  /** Makes room for `need` blocks, dropping the least recently used other datagrams; false if it cannot. */
  private room(slot: number, need: number, p: Packet): boolean {
    const f = this.store;
    if (f.free >= need) return true;
    this.ev(p, EV.DEFRAG_MEMCAP);
    while (f.free < need) {
      const victim = this.lruTail;
      if (victim < 0 || victim === slot) {
        this.st.dropped_memcap++;
        return false;
      }
      this.st.dropped_memcap++;
      this.table.delete(victim);
    }
    return true;
  }

  private onRemove(slot: number, reason: 'evict' | 'expire' | 'delete'): void {
    if (reason === 'expire' || this.removing === 1) {
      this.st.timeouts++;
      this.s.ev[EV.DEFRAG_TIMEOUT]!++;
    }
    this.removing = 0;
    const f = this.store;
    for (let r = this.tHead[slot]!; r >= 0; ) {
      const nx = f.next[r]!;
      f.release(r);
      r = nx;
    }
    this.fragsHeld -= this.tCount[slot]!;
    this.tHead[slot] = -1;
    this.tCount[slot] = 0;
    this.lruUnlink(slot);
  }

  private lruLinkHead(s: number): void {
    this.lruPrev[s] = -1;
    this.lruNext[s] = this.lruHead;
    if (this.lruHead >= 0) this.lruPrev[this.lruHead] = s;
    this.lruHead = s;
    if (this.lruTail < 0) this.lruTail = s;
  }

  private lruUnlink(s: number): void {
    const pv = this.lruPrev[s]!;
    const nx = this.lruNext[s]!;
    if (pv >= 0) this.lruNext[pv] = nx;
    else this.lruHead = nx;
    if (nx >= 0) this.lruPrev[nx] = pv;
    else this.lruTail = pv;
  }

  // --- fragments -------------------------------------------------------------------------------

  /** Inserts a record after every held fragment with an offset not above its own (RB order). */
  private linkFrag(slot: number, rec: number): void {
    const f = this.store;
    const off = f.off[rec]!;
    let pred = -1;
    let cur = this.tHead[slot]!;
    while (cur >= 0 && f.off[cur]! <= off) {
      pred = cur;
      cur = f.next[cur]!;
    }
    f.next[rec] = cur;
    if (pred < 0) this.tHead[slot] = rec;
    else f.next[pred] = rec;
    this.tCount[slot]!++;
    this.fragsHeld++;
  }

  private unlinkFrag(slot: number, rec: number): void {
    const f = this.store;
    let pred = -1;
    let cur = this.tHead[slot]!;
    while (cur >= 0 && cur !== rec) {
      pred = cur;
      cur = f.next[cur]!;
    }
    if (cur < 0) return;
    if (pred < 0) this.tHead[slot] = f.next[rec]!;
    else f.next[pred] = f.next[rec]!;
    f.release(rec);
    this.tCount[slot]!--;
    this.fragsHeld--;
  }

  /**
   * 0: the fragment overlaps no held data; 1: it overlaps with the same bytes (a duplicate);
   * 2: some overlapping byte differs.
   */
  private overlap(slot: number, b: Uint8Array, dataStart: number, fo: number, fe: number): number {
    const f = this.store;
    let res = 0;
    for (let r = this.tHead[slot]!; r >= 0; r = f.next[r]!) {
      const ro = f.off[r]!;
      if (ro >= fe) break;
      const re = ro + f.len[r]!;
      const lo = fo > ro ? fo : ro;
      const hi = fe < re ? fe : re;
      if (lo >= hi) continue;
      if (!f.same(r, f.hdr[r]! + lo - ro, b, dataStart + lo - fo, hi - lo)) return 2;
      res = 1;
    }
    return res;
  }

  /** A first fragment holding less than the transport header (TCP: 20 or its data offset; UDP: 8). */
  private tinyFirst(b: Uint8Array, at: number, len: number, proto: number): boolean {
    if (proto === IPPROTO_TCP) return len < 20 || ((b[at + 12]! >> 4) << 2) > len;
    if (proto === IPPROTO_UDP) return len < 8;
    return false;
  }

  /**
   * Suricata's hole check: the first fragment is held and each starts within what precedes it.
   * Returns the data length so covered, or -1.
   */
  private complete(slot: number): number {
    const f = this.store;
    const head = this.tHead[slot]!;
    if (head < 0 || f.off[head] !== 0) return -1;
    let len = 0;
    for (let r = head; r >= 0; r = f.next[r]!) {
      const o = f.off[r]!;
      if (o > len) return -1;
      const e = o + f.len[r]!;
      if (e > len) len = e;
    }
    return len;
  }

  /** Defrag4Reassemble / Defrag6Reassemble into `buf`, then the re-decode of `p` from it. */
  private rebuild(slot: number, p: Packet, covered: number): boolean {
    const f = this.store;
    const buf = this.buf;
    const v6 = this.tV6[slot] === 1;
    // Bytes a policy trimmed from every fragment read as zeros, never as an earlier datagram's.
    let maxHdr = 0;
    for (let r = this.tHead[slot]!; r >= 0 && f.off[r] === 0; r = f.next[r]!) if (f.hdr[r]! > maxHdr) maxHdr = f.hdr[r]!;
    buf.fill(0, 0, Math.min(BUF_SIZE, maxHdr + covered));
    let more = true;
    let prevOff = 0;
    let hdrSize = -1;
    let first = -1;
    let fragLen = 0;
    let used = 0;
    let ok = true;
    for (let r = this.tHead[slot]!; r >= 0; r = f.next[r]!) {
      const o = f.off[r]!;
      const len = f.len[r]!;
      const lt = f.ltrim[r]!;
      // The previous fragment was the last one, and this one does not share its offset: done.
      if (!more && o > prevOff) break;
      if (lt >= len) continue;
      if (o === 0) {
        const h = f.hdr[r]!;
        if (h + len > BUF_SIZE) {
          ok = false;
          break;
        }
        f.read(r, 0, buf, 0, h + len);
        hdrSize = h;
        first = r;
        fragLen = len;
      } else {
        if (hdrSize < 0) {
          first = -1;
          break;
        }
        if (hdrSize + o + len > BUF_SIZE) {
          ok = false;
          break;
        }
        f.read(r, f.hdr[r]! + lt, buf, hdrSize + o + lt, len - lt);
        if (o + len > fragLen) fragLen = o + len;
      }
      used++;
      more = (f.flags[r]! & FF_MORE) !== 0;
      prevOff = o;
    }
    if (ok && first < 0) {
      // Every first fragment was trimmed away by later ones: nothing to take the headers from.
      this.st.ignored++;
      this.table.delete(slot);
      return false;
    }
    const l3 = ok ? f.l3[first]! : 0;
    // The rebuilt datagram's length field: IPv4 total length, IPv6 payload length.
    const ipField = v6 ? hdrSize - l3 - 40 + fragLen : hdrSize - l3 + fragLen;
    if (!ok || ipField > 65535) {
      this.st.dropped_oversize++;
      this.ev(p, v6 ? EV.IPV6_FRAG_PKT_TOO_LARGE : EV.IPV4_FRAG_PKT_TOO_LARGE);
      this.table.delete(slot);
      return false;
    }
    if (v6) {
      buf[l3 + 4] = ipField >> 8;
      buf[l3 + 5] = ipField & 0xff;
      buf[f.nh[first]!] = this.tProto[slot]!;
    } else {
      buf[l3 + 2] = ipField >> 8;
      buf[l3 + 3] = ipField & 0xff;
      buf[l3 + 6] &= 0x40; // keep DF; clear MF and the offset
      buf[l3 + 7] = 0;
      ipv4Checksum(buf, l3, (buf[l3]! & 15) << 2);
    }
    const frameLen = hdrSize + fragLen;
    const firstCover = hdrSize + f.len[first]!;
    const linktype = f.linktype[first]!;
    const ifIndex = f.ifIndex[first]!;
    const flags = this.tFlags[slot]!;
    this.table.delete(slot);

    const st = this.st;
    st.reassembled++;
    if (v6) st.reassembled_ipv6++;
    else st.reassembled_ipv4++;
    p.data = buf;
    p.off = 0;
    p.caplen = frameLen;
    p.wirelen = frameLen;
    p.linktype = linktype;
    p.ifIndex = ifIndex;
    const pend = this.pendEv;
    const pendN = this.pendN;
    this.scratch.decode(p);
    let extra = PF.REASSEMBLED;
    if ((flags & TF_OVERLAP) !== 0) extra |= PF.FRAG_OVERLAP;
    let need = -1;
    if ((p.flags & PF.TCP) !== 0) need = p.l4Off + p.tcpHdrLen;
    else if ((p.flags & PF.UDP) !== 0) need = p.l4Off + 8;
    if (need > firstCover) {
      extra |= PF.L4_SPLIT;
      if ((flags & TF_TINY) === 0) {
        // A transport header behind IPv6 extension headers in the fragmentable part.
        st.tiny++;
        raise(this.s, p, v6 ? EV.IPV6_FRAG_TINY : EV.IPV4_FRAG_TINY);
      }
    }
    p.flags |= extra;
    p.fragCount = used;
    // Events this call raised on the completing fragment stay on the packet (counted once).
    if (pendN > 0) {
      if (p.evCount === 0) p.ev0 = pend;
      p.evCount += pendN;
    }
    return true;
  }

  /** Raises a defrag event on the packet being pushed. */
  private ev(p: Packet, id: number): void {
    if (this.pendN++ === 0) this.pendEv = id;
    raise(this.s, p, id);
  }
}

/** Recomputes an IPv4 header checksum in place. */
function ipv4Checksum(b: Uint8Array, off: number, hlen: number): void {
  b[off + 10] = 0;
  b[off + 11] = 0;
  let sum = 0;
  for (let i = 0; i < hlen; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  sum = ~sum & 0xffff;
  b[off + 10] = sum >> 8;
  b[off + 11] = sum & 0xff;
}
