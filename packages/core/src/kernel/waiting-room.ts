/**
 * Where requests wait for the kernel in the job: held in order, execute requests marked busy and
 * shown the waiting message; answered as interrupted on an interrupt, or with the reason when the
 * kernel cannot start. Owns the hold queue and the waiting displays.
 */
import { type HeldMessage, HoldQueue } from './hold-queue.js';
import type { KernelVoice } from './kernel-voice.js';
import { errorContent, isSilent } from './stand-in.js';
import { WaitingDisplays } from './waiting-displays.js';
import type { MessageHeader } from './wire.js';

export class WaitingRoom {
  private readonly held = new HoldQueue();
  private readonly displays: WaitingDisplays;
  private executionCount = 0;

  constructor(
    private readonly voice: KernelVoice,
    waitingText: () => string,
  ) {
    this.displays = new WaitingDisplays(voice, this.held, waitingText);
  }

  /** Holds a request for the kernel; an execute request is shown busy and waiting. */
  hold(message: Omit<HeldMessage, 'displayId'>, content: Readonly<Record<string, unknown>>): void {
    const execute = message.header.msg_type === 'execute_request';
    const displayId =
      execute && !isSilent(content) ? `hpcj-wait-${message.header.msg_id}` : undefined;
    const held: HeldMessage = { ...message, ...(displayId === undefined ? {} : { displayId }) };
    if (!this.held.push(held)) {
      this.refuse(
        message.identity,
        message.headerFrame,
        message.header,
        'too many requests are waiting for the job',
      );
      return;
    }
    if (!execute) return;
    this.voice.status(message.headerFrame, 'busy');
    if (displayId !== undefined) this.displays.show(message.headerFrame, displayId);
  }

  /** Answers an execute request with an error (the kernel cannot run it); drops others. */
  refuse(identity: Buffer, headerFrame: Buffer, header: MessageHeader, why: string): void {
    if (header.msg_type !== 'execute_request') return;
    const { reply, output } = errorContent('HpcJupyterError', why, ++this.executionCount);
    this.voice.status(headerFrame, 'busy');
    this.voice.publish('error', output, headerFrame);
    this.voice.reply('shell', identity, headerFrame, 'execute_reply', reply);
    this.voice.status(headerFrame, 'idle');
  }

  /** Answers every held execute request as interrupted (`note` says why); the rest stay. */
  interrupt(note: string): void {
    for (const m of this.held.take((h) => h.header.msg_type === 'execute_request')) {
      if (m.displayId !== undefined) {
        this.voice.display(m.headerFrame, m.displayId, `Interrupted: ${note}.`, true);
      }
      const { reply, output } = errorContent('KeyboardInterrupt', note, ++this.executionCount);
      this.voice.publish('error', output, m.headerFrame);
      this.voice.reply('shell', m.identity, m.headerFrame, 'execute_reply', reply);
      this.voice.status(m.headerFrame, 'idle');
    }
    this.displays.refresh();
  }

  /** The kernel will not come: every held execute request gets `why`. */
  failAll(why: string): void {
    for (const m of this.drain()) this.refuse(m.identity, m.headerFrame, m.header, why);
  }

  /** Everything held, in order; the waiting displays stop. */
  drain(): HeldMessage[] {
    this.displays.stop();
    return this.held.drain();
  }

  /** The header frames of the held execute requests (to say something on their cells). */
  executeParents(): Buffer[] {
    return this.held
      .list()
      .filter((m) => m.header.msg_type === 'execute_request')
      .map((m) => m.headerFrame);
  }

  /** The job's state changed: update the waiting messages now. */
  refresh(): void {
    this.displays.refresh();
  }

  stop(): void {
    this.displays.stop();
  }
}
