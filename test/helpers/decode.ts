// Decodes a single crafted packet with the real decoder and returns the packet and event names.

import { Packet } from '../../src/core/packet.js';
import { Decoder } from '../../src/decode/decoder.js';
import { DECODE_EVENT_NAMES } from '../../src/decode/events.js';

export interface Decoded {
  p: Packet;
  events: string[];
  counters: Record<string, number>;
}

export function decodeOne(linktype: number, data: Uint8Array, wirelen = data.length): Decoded {
  const d = new Decoder();
  const p = new Packet();
  // Place the packet at an offset inside a larger buffer, as the readers do.
  const buf = Buffer.alloc(data.length + 64, 0xee);
  Buffer.from(data).copy(buf, 32);
  p.data = buf;
  p.off = 32;
  p.caplen = data.length;
  p.wirelen = wirelen;
  p.linktype = linktype;
  d.decode(p);
  const events = Object.keys(d.stats.eventCounts());
  return { p, events, counters: d.stats.counters.toFlat(true) };
}

export function eventName(id: number): string {
  return DECODE_EVENT_NAMES[id]!;
}
