/**
 * Server-sent events for every attached client: each stream starts with a snapshot (sessions and
 * open prompts), then carries every AgentEvent as it happens, with a heartbeat comment so idle
 * proxies (jupyter-server-proxy, VS Code's forwarding) keep the connection open. Owns the open
 * streams and ends them on `close()`.
 */
import type { ServerResponse } from 'node:http';
import type { AgentStreamEvent, SnapshotEvent } from './api-types.js';

export const HEARTBEAT_MS = 15_000;

/** A client that reads too slowly to keep up is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export function formatEvent(event: AgentStreamEvent): string {
  // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export interface EventStreamOptions {
  readonly snapshot: () => SnapshotEvent;
  readonly heartbeatMs?: number;
}

export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: EventStreamOptions) {
    this.heartbeat = setInterval(() => {
      this.writeAll(': heartbeat\n\n');
    }, options.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Turns `res` into an event stream: headers, the snapshot, then live events until it closes. */
  attach(res: ServerResponse): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx-style proxies in front of jupyter-server-proxy not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    // The snapshot is written in the same tick as the client joins, so no event falls between.
    res.write(`retry: 2000\n\n${formatEvent(this.options.snapshot())}`);
    this.clients.add(res);
    res.once('close', () => {
      this.clients.delete(res);
    });
  }

  publish(event: AgentStreamEvent): void {
    this.writeAll(formatEvent(event));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private writeAll(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }
}
