/**
 * The messages the launcher itself sends to clients, signed with the connection's key: replies on
 * a ROUTER channel, and status, display and stream messages on iopub, each as a child of the
 * request it is about (clients show output by its parent).
 */
import type { KernelSockets, RouterChannel } from './kernel-sockets.js';
import type { MessageFactory } from './wire.js';

export class KernelVoice {
  constructor(
    private readonly factory: MessageFactory,
    private readonly sockets: KernelSockets,
  ) {}

  reply(
    channel: RouterChannel,
    identity: Buffer,
    parentHeader: Buffer,
    msgType: string,
    content: object,
  ): void {
    this.sockets.send(
      channel,
      this.factory.make({ msgType, content, parentHeader, identities: [identity] }),
    );
  }

  publish(msgType: string, content: object, parentHeader?: Buffer): void {
    const topic = Buffer.from(`kernel.${this.factory.session}.${msgType}`);
    this.sockets.send(
      'iopub',
      this.factory.make({
        msgType,
        content,
        identities: [topic],
        ...(parentHeader === undefined ? {} : { parentHeader }),
      }),
    );
  }

  status(parentHeader: Buffer | undefined, state: 'busy' | 'idle' | 'starting'): void {
    this.publish('status', { execution_state: state }, parentHeader);
  }

  display(parentHeader: Buffer, displayId: string, text: string, update = false): void {
    this.publish(
      update ? 'update_display_data' : 'display_data',
      { data: { 'text/plain': text }, metadata: {}, transient: { display_id: displayId } },
      parentHeader,
    );
  }

  stream(parentHeader: Buffer | undefined, name: 'stdout' | 'stderr', text: string): void {
    this.publish('stream', { name, text }, parentHeader);
  }

  /** Answers a request in full: busy, the reply, idle, as a kernel does. */
  answer(
    channel: RouterChannel,
    identity: Buffer,
    parentHeader: Buffer,
    msgType: string,
    content: object,
  ): void {
    this.status(parentHeader, 'busy');
    this.reply(channel, identity, parentHeader, msgType, content);
    this.status(parentHeader, 'idle');
  }
}
