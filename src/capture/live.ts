// Live capture: libpcap driven by a native thread of our own (native/capture.c), which drains the
// kernel's ring as fast as it fills and copies packets into a ring this side owns. The JS thread
// is woken once per batch and reads each record in place into the reused Packet: no Buffer, no
// object and no callback per packet. Kernel drops and Palisade's own ring drops are counted apart.

import { createRequire } from 'node:module';
import { PalisadeError } from '../core/errors.js';
import type { Packet } from '../core/packet.js';
import { defaultRoute } from './interfaces.js';
import { emptyCaptureStats, type CaptureStats, type PacketSource } from './source.js';

export interface LiveOptions {
  /** Interface name; null for the default-route interface. */
  iface: string | null;
  filter: string;
  snaplen: number;
  bufferSize: number;
  promiscuous: boolean;
  /** TPACKET_V3 block timeout in ms; 0: immediate mode (TPACKET_V2). */
  timeoutMs: number;
  /** Bytes of the ring between the capture thread and JS (rounded down to 16). */
  ringSize?: number;
}

interface NativeStats {
  packets: number;
  bytes: number;
  ringDrops: number;
  recv: number;
  drop: number;
  ifdrop: number;
  error: string | null;
}

type Handle = { readonly __capture: unique symbol };

/** native/capture.c */
interface CaptureAddon {
  open(o: { device: string; filter: string; snaplen: number; bufferSize: number; promiscuous: number; timeoutMs: number; ring: ArrayBuffer }): {
    handle: Handle;
    linktype: number;
    warning: string;
  };
  start(h: Handle, wake: () => void): void;
  avail(h: Handle): number;
  release(h: Handle, upTo: number): void;
  idle(h: Handle): number;
  stats(h: Handle): NativeStats;
  stop(h: Handle): void;
  close(h: Handle): void;
  inject(h: Handle, frame: Buffer): number;
}

const RING_MIN = 1 << 20;
const DEFAULT_RING = 64 << 20;
/** Packets handled per turn of the event loop before timers and sockets get theirs. */
const MAX_BATCH = 16384;
const WRAP = 0xffffffff;

let addon: CaptureAddon | null = null;
function loadAddon(): CaptureAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)('../../../build/Release/palisade_capture.node') as CaptureAddon;
    return addon;
  } catch (e) {
    throw new PalisadeError(
      'PAL_ERR_LIVE_UNAVAILABLE',
      'live capture needs the native capture addon, which is not built: install libpcap-dev and run `npm rebuild` (or `npm ci`)',
      { cause: e },
    );
  }
}

/** Resolves the interface to capture on: the one named, or the default route's. */
export function resolveInterface(name: string | null): string {
  if (name) return name;
  const r = defaultRoute();
  if (!r) {
    throw new PalisadeError('PAL_ERR_NO_INTERFACE', 'no interface given (-i) and the host has no default route to pick one from');
  }
  return r.iface;
}

export class LiveSource implements PacketSource {
  readonly format = 'live';
  readonly linktypes: number[] = [];
  readonly warnings: string[] = [];
  readonly size = 0;
  readonly name: string;
  private native: CaptureAddon | null = null;
  private handle: Handle | null = null;
  private ring: Buffer | null = null;
  private words: Uint32Array | null = null;
  /** Bytes of the ring read so far (monotonic, as the capture thread counts them). */
  private read = 0;
  private delivered = 0;
  private last: NativeStats = { packets: 0, bytes: 0, ringDrops: 0, recv: 0, drop: 0, ifdrop: 0, error: null };
  private finish: ((e?: Error) => void) | null = null;
  private stopped = false;
  private scheduled = false;

  constructor(private readonly opts: LiveOptions) {
    this.name = resolveInterface(opts.iface);
  }

  /** Opens the interface. Separate from run() so that start-up errors surface before anything else. */
  open(onWarning: (msg: string) => void = () => {}): void {
    const native = loadAddon();
    const size = Math.max(RING_MIN, Math.floor((this.opts.ringSize ?? DEFAULT_RING) / 16) * 16, 16 * Math.ceil((this.opts.snaplen + 32) / 16) * 4);
    const ab = new ArrayBuffer(size);
    let r: ReturnType<CaptureAddon['open']>;
    try {
      r = native.open({
        device: this.name,
        filter: this.opts.filter,
        snaplen: this.opts.snaplen,
        bufferSize: this.opts.bufferSize,
        promiscuous: this.opts.promiscuous ? 1 : 0,
        timeoutMs: this.opts.timeoutMs,
        ring: ab,
      });
    } catch (e) {
      const msg = (e as Error).message;
      if ((e as { code?: string }).code === 'PAL_ERR_LIVE_FILTER') {
        throw new PalisadeError('PAL_ERR_CONFIG_INVALID', `capture.filter: "${this.opts.filter}" is not a valid BPF filter: ${msg}`, { cause: e });
      }
      const hint = /permitted|permission/i.test(msg) ? ' (live capture needs root or CAP_NET_RAW)' : '';
      const what = this.opts.filter ? ` with filter "${this.opts.filter}"` : '';
      throw new PalisadeError('PAL_ERR_LIVE_OPEN', `cannot capture on ${this.name}${what}: ${msg}${hint}`, { cause: e });
    }
    if (r.warning) onWarning(`${this.name}: ${r.warning}`);
    this.native = native;
    this.handle = r.handle;
    this.ring = Buffer.from(ab);
    this.words = new Uint32Array(ab);
    this.linktypes.push(r.linktype);
  }

  run(p: Packet, onPacket: () => void, onChunk?: () => void): Promise<void> {
    if (!this.handle) this.open();
    const native = this.native!;
    const h = this.handle!;
    const ring = this.ring!;
    const u32 = this.words!;
    const size = ring.length;
    const linktype = this.linktypes[0]!;
    /** Delivers up to MAX_BATCH records of what the thread has published; true when more wait. */
    const batch = (): boolean => {
      const w = native.avail(h);
      let r = this.read;
      let n = 0;
      while (r < w && n < MAX_BATCH) {
        const off = r % size;
        const i = off >>> 2;
        const caplen = u32[i + 2]!;
        if (caplen === WRAP) {
          r += size - off;
          continue;
        }
        p.tsSec = u32[i]!;
        p.tsNsec = u32[i + 1]!;
        p.caplen = caplen;
        p.wirelen = u32[i + 3]!;
        p.linktype = linktype;
        p.ifIndex = 0;
        p.data = ring;
        p.off = off + 16;
        r += 16 + ((caplen + 15) & ~15);
        n++;
        onPacket();
      }
      this.read = r;
      this.delivered += n;
      native.release(h, r);
      if (n !== 0) onChunk?.();
      return r < w;
    };
    const drain = (): void => {
      this.scheduled = false;
      if (this.stopped) return;
      try {
        if (batch()) return this.later(drain);
        // Nothing left: ask for the next wake, and look once more (a record published between
        // the last read and the request would otherwise wait for the one after it).
        if (native.idle(h) > this.read) return this.later(drain);
        const err = native.stats(h).error;
        if (err) this.end(new PalisadeError('PAL_ERR_LIVE_CAPTURE', `capture on ${this.name} failed: ${err}`));
      } catch (e) {
        this.end(e as Error);
      }
    };
    this.batch = batch;
    return new Promise<void>((resolve, reject) => {
      this.finish = (e) => (e ? reject(e) : resolve());
      native.start(h, drain);
    });
  }

  /** run()'s batch reader, for stop() to deliver what the thread had captured. */
  private batch: (() => boolean) | null = null;

  private later(fn: () => void): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(fn);
  }

  /** Stops the capture thread at once, delivers what it had captured, and lets run() resolve. */
  stop(): void {
    this.end();
  }

  private end(err?: Error): void {
    if (this.stopped || !this.handle) return;
    this.stopped = true;
    const native = this.native!;
    const h = this.handle;
    let failure = err;
    try {
      native.stop(h);
      this.last = native.stats(h);
      if (!err) while (this.batch?.());
    } catch (e) {
      failure ??= e as Error;
    }
    try {
      native.close(h);
    } catch {
      // closed either way
    }
    this.handle = null;
    this.finish?.(failure);
  }

  /** Sends a raw frame on the interface (for injected replies); false when it was not sent. */
  inject(frame: Buffer): boolean {
    if (!this.handle) return false;
    try {
      return this.native!.inject(this.handle, frame) === frame.length;
    } catch {
      return false; // ENOBUFS, the interface down: the caller counts it
    }
  }

  stats(): CaptureStats {
    if (this.handle) {
      try {
        this.last = this.native!.stats(this.handle);
      } catch {
        // keep the last snapshot
      }
    }
    const s = emptyCaptureStats();
    s.packets = this.delivered;
    s.bytes = this.last.bytes;
    s.kernelPackets = this.last.recv;
    s.kernelDrops = this.last.drop;
    s.kernelIfDrops = this.last.ifdrop;
    s.ringDrops = this.last.ringDrops;
    return s;
  }
}
