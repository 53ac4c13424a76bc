/**
 * An incremental parser for server-sent events (the WHATWG event-stream format), for clients of
 * the agent's `/v1/events`: chunks in, complete `{ event, data }` messages out.
 */

export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** Feeds a chunk of the stream; returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const end = this.lineEnd();
      if (end === undefined) break;
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end.length);
      const message = this.line(line);
      if (message !== undefined) out.push(message);
    }
    return out;
  }

  /** Where the first complete line ends: CRLF, LF or CR (a CR at the very end may yet be CRLF). */
  private lineEnd(): { index: number; length: number } | undefined {
    const match = /\r\n|\n|\r(?!$)/.exec(this.buffer);
    return match === null ? undefined : { index: match.index, length: match[0].length };
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const message = {
        event: this.event === '' ? 'message' : this.event,
        data: this.data.join('\n'),
      };
      this.event = '';
      this.data = [];
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    // `id` and `retry` matter to browsers' EventSource reconnection, not to us.
    return undefined;
  }
}
