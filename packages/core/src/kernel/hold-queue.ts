/**
 * Requests held while there is no remote kernel: kept in arrival order, exactly as received (the
 * original frames, so they are forwarded unchanged and the remote kernel checks their signature),
 * bounded in bytes so a stuck queue cannot eat the machine.
 */
import type { RouterChannel } from './kernel-sockets.js';
import type { MessageHeader } from './wire.js';

export interface HeldMessage {
  readonly channel: RouterChannel;
  readonly identity: Buffer;
  /** Everything after the identity, as received. */
  readonly frames: readonly Buffer[];
  readonly header: MessageHeader;
  /** The header frame as received: the parent of anything we say about this request. */
  readonly headerFrame: Buffer;
  /** For execute requests that show a waiting message: its display id. */
  readonly displayId?: string;
}

export const DEFAULT_HOLD_LIMIT_BYTES = 64 * 1024 * 1024;

export class HoldQueue {
  private items: HeldMessage[] = [];
  private bytes = 0;

  constructor(private readonly limitBytes = DEFAULT_HOLD_LIMIT_BYTES) {}

  get size(): number {
    return this.items.length;
  }

  /** Adds a message; false (and nothing kept) when it would pass the limit. */
  push(message: HeldMessage): boolean {
    const size = sizeOf(message);
    if (this.bytes + size > this.limitBytes) return false;
    this.items.push(message);
    this.bytes += size;
    return true;
  }

  /** Everything held, in order, and empty afterwards. */
  drain(): HeldMessage[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    return out;
  }

  /** Takes out (and returns) the messages that match, keeping the others in order. */
  take(match: (m: HeldMessage) => boolean): HeldMessage[] {
    const taken: HeldMessage[] = [];
    const kept: HeldMessage[] = [];
    for (const m of this.items) (match(m) ? taken : kept).push(m);
    this.items = kept;
    this.bytes = kept.reduce((n, m) => n + sizeOf(m), 0);
    return taken;
  }

  /** A look at what is held, in order (for waiting messages). */
  list(): readonly HeldMessage[] {
    return this.items;
  }
}

function sizeOf(m: HeldMessage): number {
  return m.frames.reduce((n, f) => n + f.length, m.identity.length);
}
