// IP addresses without strings: every address is four 32-bit words (IPv6 order), IPv4 held as
// the IPv4-mapped form ::ffff:a.b.c.d. Parsing and formatting happen only at the edges
// (config, output); the hot path compares words.

export const V4_MAPPED_W2 = 0xffff;

/** Dotted quad of an unsigned 32-bit IPv4 address. */
export function formatIPv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952 text of an IPv6 address given as four words (lowercase, longest zero run compressed). */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === V4_MAPPED_W2) return `::ffff:${formatIPv4(w3)}`;
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Text of an address in words; `v6` chooses the family (an IPv4 packet's address is mapped). */
export function formatAddr(v6: boolean, w0: number, w1: number, w2: number, w3: number): string {
  return v6 ? formatIPv6(w0, w1, w2, w3) : formatIPv4(w3);
}

function parseIPv4Words(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    if (part.length > 1 && part[0] === '0') return null; // no octal ambiguity
    const n = Number(part);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

function parseIPv6Words(s: string): [number, number, number, number] | null {
  if (s.length < 2 || s.length > 45) return null;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > lastColon) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
    const v4 = parseIPv4Words(s.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const parseList = (t: string): number[] | null => {
    if (t === '') return [];
    const out: number[] = [];
    for (const h of t.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return null;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const dbl = text.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (dbl !== text.lastIndexOf('::')) return null;
    const head = parseList(text.slice(0, dbl));
    const rest = parseList(text.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseList(text);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const w = (i: number): number => ((groups[i]! << 16) | groups[i + 1]!) >>> 0;
  return [w(0), w(2), w(4), w(6)];
}

/** An address value object, for config, notices and output (never allocated per packet). */
export class IpAddr {
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;

  /** Words may be signed bit patterns (as the packet struct holds them); they are kept unsigned. */
  constructor(
    readonly v6: boolean,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
  ) {
    this.w0 = w0 >>> 0;
    this.w1 = w1 >>> 0;
    this.w2 = w2 >>> 0;
    this.w3 = w3 >>> 0;
  }

  static v4(a: number): IpAddr {
    return new IpAddr(false, 0, 0, V4_MAPPED_W2, a >>> 0);
  }

  /** Parses IPv4 dotted quad or IPv6 text; null when it is neither. */
  static parse(s: string): IpAddr | null {
    if (s.includes(':')) {
      const w = parseIPv6Words(s);
      return w ? new IpAddr(true, w[0], w[1], w[2], w[3]) : null;
    }
    const v = parseIPv4Words(s);
    return v === null ? null : IpAddr.v4(v);
  }

  equals(o: IpAddr): boolean {
    return this.w0 === o.w0 && this.w1 === o.w1 && this.w2 === o.w2 && this.w3 === o.w3;
  }

  toString(): string {
    return formatAddr(this.v6, this.w0, this.w1, this.w2, this.w3);
  }

  /** Text in JSON: evidence may hold addresses and leave formatting to output. */
  toJSON(): string {
    return this.toString();
  }
}

/** A prefix in the 128-bit mapped space: IPv4 /n is stored as /(96+n). */
export class Cidr {
  private readonly m0: number;
  private readonly m1: number;
  private readonly m2: number;
  private readonly m3: number;

  constructor(
    readonly addr: IpAddr,
    /** Prefix length in the family's own terms (0..32 for IPv4, 0..128 for IPv6). */
    readonly prefix: number,
  ) {
    const bits = addr.v6 ? prefix : prefix + 96;
    const mask = (i: number): number => {
      const b = Math.max(0, Math.min(32, bits - i * 32));
      return b === 0 ? 0 : b === 32 ? 0xffffffff : (0xffffffff << (32 - b)) >>> 0;
    };
    this.m0 = mask(0);
    this.m1 = mask(1);
    this.m2 = mask(2);
    this.m3 = mask(3);
  }

  /** Parses "a.b.c.d/n", "x::y/n" or a bare address (a host prefix). Null when invalid. */
  static parse(s: string): Cidr | null {
    const slash = s.indexOf('/');
    const addr = IpAddr.parse(slash < 0 ? s : s.slice(0, slash));
    if (!addr) return null;
    const max = addr.v6 ? 128 : 32;
    if (slash < 0) return new Cidr(addr, max);
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    return n > max ? null : new Cidr(addr, n);
  }

  /** The prefix of `prefix` bits holding `addr` (host bits cleared). */
  static of(addr: IpAddr, prefix: number): Cidr {
    const c = new Cidr(addr, prefix);
    return new Cidr(new IpAddr(addr.v6, addr.w0 & c.m0, addr.w1 & c.m1, addr.w2 & c.m2, addr.w3 & c.m3), prefix);
  }

  /** Prefix length in the 128-bit mapped space (IPv4 /n is /(96+n)). */
  get bits(): number {
    return this.addr.v6 ? this.prefix : this.prefix + 96;
  }

  /** True when this prefix covers a single address. */
  get isHost(): boolean {
    return this.prefix === (this.addr.v6 ? 128 : 32);
  }

  /** True when the two prefixes share any address (one contains the other). */
  overlaps(o: Cidr): boolean {
    const wide = this.bits <= o.bits ? this : o;
    const narrow = wide === this ? o : this;
    const a = narrow.addr;
    return wide.contains(a.w0, a.w1, a.w2, a.w3);
  }

  /** Text with the host prefix left off ("198.18.0.1", "198.18.0.0/24"), as operators write it. */
  toShortString(): string {
    return this.isHost ? this.addr.toString() : this.toString();
  }

  /** True when the address words fall inside this prefix. */
  contains(w0: number, w1: number, w2: number, w3: number): boolean {
    const a = this.addr;
    return (
      ((w0 & this.m0) >>> 0) === ((a.w0 & this.m0) >>> 0) &&
      ((w1 & this.m1) >>> 0) === ((a.w1 & this.m1) >>> 0) &&
      ((w2 & this.m2) >>> 0) === ((a.w2 & this.m2) >>> 0) &&
      ((w3 & this.m3) >>> 0) === ((a.w3 & this.m3) >>> 0)
    );
  }

  toString(): string {
    return `${this.addr.toString()}/${this.prefix}`;
  }
}

/** A small set of prefixes with a linear match (trusted lists are short). */
export class CidrSet {
  constructor(readonly entries: readonly Cidr[]) {}

  static parse(list: readonly string[]): CidrSet {
    const out: Cidr[] = [];
    for (const s of list) {
      const c = Cidr.parse(s);
      if (!c) throw new TypeError(`invalid CIDR: ${s}`);
      out.push(c);
    }
    return new CidrSet(out);
  }

  /** The first prefix sharing any address with `c`, or null. */
  overlapping(c: Cidr): Cidr | null {
    for (const e of this.entries) if (e.overlaps(c)) return e;
    return null;
  }

  /** The first prefix containing the address, or null. */
  match(w0: number, w1: number, w2: number, w3: number): Cidr | null {
    for (const c of this.entries) if (c.contains(w0, w1, w2, w3)) return c;
    return null;
  }
}
