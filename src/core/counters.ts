// Preallocated counters: a fixed list of dotted names mapped to slots of one Float64Array, so
// the hot path increments `c.v[HANDLE]` and never looks up a name or allocates.

export class CounterSet {
  readonly names: readonly string[];
  readonly v: Float64Array;
  private readonly index: Map<string, number>;

  constructor(names: readonly string[]) {
    this.names = names;
    this.v = new Float64Array(names.length);
    this.index = new Map(names.map((n, i) => [n, i]));
    if (this.index.size !== names.length) throw new Error('duplicate counter name');
  }

  /** The handle (slot) of a counter; throws for an unknown name so typos fail at start-up. */
  handle(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`unknown counter: ${name}`);
    return i;
  }

  get(name: string): number {
    return this.v[this.handle(name)]!;
  }

  reset(): void {
    this.v.fill(0);
  }

  /** Counters as a flat name → value object; zero counters are left out when `skipZero`. */
  toFlat(skipZero = false): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) {
      const x = this.v[i]!;
      if (!skipZero || x !== 0) out[this.names[i]!] = x;
    }
    return out;
  }
}

/** Turns {"a.b": 1, "a.c": 2} into {a: {b: 1, c: 2}}. */
export function nest(flat: Record<string, number>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(flat)) {
    const parts = name.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const k = parts[i]!;
      let next = node[k];
      if (typeof next !== 'object' || next === null) {
        next = {};
        node[k] = next;
      }
      node = next as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = value;
  }
  return root;
}
