// Live capture through libpcap, using the `pcap` binding (node_pcap): a named interface or the
// default-route one, optional BPF filter, snaplen, kernel buffer size, immediate delivery and
// per-packet kernel timestamps. Reports libpcap's received/dropped/interface-dropped counters.

import { createRequire } from 'node:module';
import { endianness } from 'node:os';
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
  /** libpcap read timeout in ms; 0 delivers every packet at once (immediate mode). */
  timeoutMs: number;
}

interface PcapStats {
  ps_recv: number;
  ps_drop: number;
  ps_ifdrop: number;
}

interface PcapRawPacket {
  buf: Buffer;
  header: Buffer;
}

interface PcapSession {
  link_type: string;
  on(ev: 'packet', fn: (raw: PcapRawPacket) => void): void;
  stats(): PcapStats;
  close(): void;
  inject(data: Buffer): void;
  /** node_pcap's buffers, handed to the binding's dispatch(). */
  buf?: Buffer;
  header?: Buffer;
  /** The binding object; its read_callback dispatches every packet waiting in the ring. */
  session?: { read_callback?: () => void; dispatch?: (buf: Buffer, header: Buffer) => number };
}

interface PcapModule {
  createSession(device: string, options: Record<string, unknown>): PcapSession;
  warningHandler: (msg: string) => void;
}

const LINKTYPES: Record<string, number> = {
  LINKTYPE_NULL: 0,
  LINKTYPE_ETHERNET: 1,
  LINKTYPE_RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
  LINKTYPE_IEEE802_11_RADIO: 127,
};

function loadPcap(): PcapModule {
  try {
    return createRequire(import.meta.url)('pcap') as PcapModule;
  } catch (e) {
    throw new PalisadeError(
      'PAL_ERR_LIVE_UNAVAILABLE',
      'live capture needs the `pcap` binding, which is not built: install libpcap-dev and run `npm rebuild pcap`',
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
  private session: PcapSession | null = null;
  private packets = 0;
  private bytes = 0;
  private last: PcapStats = { ps_recv: 0, ps_drop: 0, ps_ifdrop: 0 };
  private finish: (() => void) | null = null;
  private readonly le = endianness() === 'LE';

  constructor(private readonly opts: LiveOptions) {
    this.name = resolveInterface(opts.iface);
  }

  /** Opens the interface. Separate from run() so that start-up errors surface before anything else. */
  open(onWarning: (msg: string) => void = () => {}): void {
    const pcap = loadPcap();
    pcap.warningHandler = (msg: string) => onWarning(`${this.name}: ${msg}`);
    try {
      this.session = pcap.createSession(this.name, {
        filter: this.opts.filter,
        snap_length: this.opts.snaplen,
        buffer_size: this.opts.bufferSize,
        promiscuous: this.opts.promiscuous,
        buffer_timeout: this.opts.timeoutMs,
      });
    } catch (e) {
      const msg = (e as Error).message;
      if (this.opts.filter && /filter expression|syntax error/i.test(msg)) {
        throw new PalisadeError('PAL_ERR_CONFIG_INVALID', `capture.filter: "${this.opts.filter}" is not a valid BPF filter: ${msg}`, { cause: e });
      }
      const hint = /permitted|permission/i.test(msg) ? ' (live capture needs root or CAP_NET_RAW)' : '';
      const what = this.opts.filter ? ` with filter "${this.opts.filter}"` : '';
      throw new PalisadeError('PAL_ERR_LIVE_OPEN', `cannot capture on ${this.name}${what}: ${msg}${hint}`, { cause: e });
    }
    const lt = this.session.link_type;
    const known = LINKTYPES[lt];
    const m = /(\d+)$/.exec(lt);
    this.linktypes.push(known !== undefined ? known : m ? Number(m[1]) : -1);
  }

  run(p: Packet, onPacket: () => void): Promise<void> {
    if (!this.session) this.open();
    const session = this.session!;
    const linktype = this.linktypes[0]!;
    const le = this.le;
    return new Promise<void>((resolve) => {
      this.finish = resolve;
      session.on('packet', (raw: PcapRawPacket) => {
        const h = raw.header;
        p.tsSec = le ? h.readUInt32LE(0) : h.readUInt32BE(0);
        p.tsNsec = (le ? h.readUInt32LE(4) : h.readUInt32BE(4)) * 1000;
        const caplen = le ? h.readUInt32LE(8) : h.readUInt32BE(8);
        p.caplen = Math.min(caplen, raw.buf.length);
        p.wirelen = le ? h.readUInt32LE(12) : h.readUInt32BE(12);
        p.linktype = linktype;
        p.ifIndex = 0;
        p.data = raw.buf;
        p.off = 0;
        this.packets++;
        this.bytes += p.caplen;
        onPacket();
      });
    });
  }

  /** Delivers what the kernel already holds, closes the handle and lets run() resolve. */
  stop(): void {
    const session = this.session;
    if (!session) return;
    try {
      session.session?.read_callback?.();
      this.last = session.stats();
    } catch {
      // stats are best effort while closing
    }
    this.session = null;
    session.close();
    // node_pcap's close() only breaks the loop: its poll handle is released on a later dispatch
    // that returns PCAP_ERROR_BREAK, which libpcap (TPACKET_V3, non-blocking) only returns once
    // another packet arrives. Try once; the CLI exits explicitly after a clean shutdown anyway.
    try {
      if (session.buf && session.header) session.session?.dispatch?.(session.buf, session.header);
    } catch {
      // already finalized
    }
    this.finish?.();
  }

  /** Sends a raw frame on the interface (for injected replies). */
  inject(frame: Buffer): void {
    this.session?.inject(frame);
  }

  stats(): CaptureStats {
    if (this.session) {
      try {
        this.last = this.session.stats();
      } catch {
        // keep the last snapshot
      }
    }
    const s = emptyCaptureStats();
    s.packets = this.packets;
    s.bytes = this.bytes;
    s.kernelPackets = this.last.ps_recv;
    s.kernelDrops = this.last.ps_drop;
    s.kernelIfDrops = this.last.ps_ifdrop;
    return s;
  }
}
