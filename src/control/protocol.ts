// The control protocol between `palisade` commands and the daemon: one JSON request per line on a
// Unix socket, one JSON reply per line. Errors travel as { ok: false, code, message }.

export type Request =
  | { cmd: 'status' }
  | { cmd: 'list' }
  | { cmd: 'ban'; target: string; seconds: number | null; reason: string | null }
  | { cmd: 'unban'; target: string }
  | { cmd: 'history'; target: string };

export type Reply = { ok: true; result: unknown } | { ok: false; code: string; message: string };

export type Handler = (req: Request) => Promise<unknown>;
