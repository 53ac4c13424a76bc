/**
 * A small Jupyter client over real ZeroMQ sockets, for tests and benchmarks of the launcher: it
 * connects to a connection file's ports as jupyter_client does (shell, control and stdin DEALERs
 * sharing one identity, an iopub SUB, a heartbeat REQ), signs its requests, and collects replies
 * and iopub messages by parent. Also free ports, and connection files to hand to kernels.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import * as zmq from 'zeromq';
import { type Channel, type ConnectionInfo, endpointOf } from './connection-info.js';
import {
  type MessageHeader,
  MessageFactory,
  parseHeader,
  parseJson,
  Signer,
  splitFrames,
} from './wire.js';

/** Sends on one libzmq socket in order (zeromq.js allows one pending send per socket). */
class SerialSender {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly socket: zmq.Dealer) {}

  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => undefined);
    return this.tail;
  }
}

export interface ReceivedMessage {
  readonly header: MessageHeader;
  readonly parent: Record<string, unknown>;
  readonly content: Record<string, unknown>;
  readonly signatureOk: boolean;
}

type RequestChannel = 'shell' | 'control' | 'stdin';

export class TestKernelClient {
  readonly iopub: ReceivedMessage[] = [];
  readonly replies: ReceivedMessage[] = [];
  private readonly dealers: Record<RequestChannel, zmq.Dealer>;
  private readonly senders: Record<RequestChannel, SerialSender>;
  private readonly sub = new zmq.Subscriber({ linger: 0 });
  private readonly factory: MessageFactory;
  private readonly signer: Signer;
  private readonly waiters = new Set<() => void>();
  /** The routing id its shell, control and stdin sockets share (what a ROUTER routes by). */
  readonly routingId = `test-${randomUUID()}`;

  constructor(readonly info: ConnectionInfo) {
    this.signer = new Signer(info.key, info.signatureScheme);
    this.factory = new MessageFactory(this.signer, 'test');
    const routingId = this.routingId;
    const make = (channel: RequestChannel): zmq.Dealer => {
      const dealer = new zmq.Dealer({ linger: 0, routingId });
      dealer.connect(endpointOf(info, channel).replace('tcp://0.0.0.0', 'tcp://127.0.0.1'));
      void this.read(dealer, this.replies);
      return dealer;
    };
    this.dealers = { shell: make('shell'), control: make('control'), stdin: make('stdin') };
    this.senders = {
      shell: new SerialSender(this.dealers.shell),
      control: new SerialSender(this.dealers.control),
      stdin: new SerialSender(this.dealers.stdin),
    };
    this.sub.connect(endpointOf(info, 'iopub'));
    this.sub.subscribe();
    void this.read(this.sub, this.iopub);
  }

  /** Sends a request; resolves with its msg_id. */
  async send(channel: RequestChannel, msgType: string, content: object): Promise<string> {
    const frames = this.factory.make({ msgType, content });
    const id = parseHeader(splitFrames(frames).header).msg_id;
    await this.senders[channel].send(frames);
    return id;
  }

  /** Sends a request and waits for its reply. */
  async request(
    channel: RequestChannel,
    msgType: string,
    content: object,
    timeoutMs = 30_000,
  ): Promise<ReceivedMessage> {
    const id = await this.send(channel, msgType, content);
    return this.replyTo(id, timeoutMs);
  }

  replyTo(id: string, timeoutMs = 30_000): Promise<ReceivedMessage> {
    return this.waitUntil(
      () => this.replies.find((m) => m.parent['msg_id'] === id),
      timeoutMs,
      `reply to ${id}`,
    );
  }

  /** Waits for a message of this type on shell, control or stdin (an input_request, say). */
  waitFor(msgType: string, timeoutMs = 30_000): Promise<ReceivedMessage> {
    return this.waitUntil(
      () => this.replies.find((m) => m.header.msg_type === msgType),
      timeoutMs,
      msgType,
    );
  }

  /** The iopub messages whose parent is `id`, so far. */
  outputsOf(id: string): ReceivedMessage[] {
    return this.iopub.filter((m) => m.parent['msg_id'] === id);
  }

  /** Waits for an iopub message about `id` that matches. */
  waitIopub(
    id: string,
    match: (m: ReceivedMessage) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReceivedMessage> {
    return this.waitUntil(() => this.outputsOf(id).find(match), timeoutMs, `iopub for ${id}`);
  }

  /** Sends kernel_info requests until one is answered and iopub works (jupyter_client's way). */
  async waitReady(timeoutMs = 30_000): Promise<ReceivedMessage> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const id = await this.send('shell', 'kernel_info_request', {});
      try {
        const reply = await this.replyTo(id, 1000);
        await this.waitIopub(id, () => true, 500);
        return reply;
      } catch {
        // not yet
      }
    }
    throw new Error(`no kernel_info reply within ${timeoutMs} ms`);
  }

  /** Runs code; resolves with the reply and everything it printed to stdout. */
  async execute(
    code: string,
    timeoutMs = 30_000,
  ): Promise<{ id: string; reply: ReceivedMessage; stdout: string; result: string | undefined }> {
    const id = await this.send('shell', 'execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    const reply = await this.replyTo(id, timeoutMs);
    await this.waitIopub(
      id,
      (m) => m.header.msg_type === 'status' && m.content['execution_state'] === 'idle',
      timeoutMs,
    );
    const out = this.outputsOf(id);
    const stdout = out
      .filter((m) => m.header.msg_type === 'stream' && m.content['name'] === 'stdout')
      .map((m) => String(m.content['text']))
      .join('');
    const result = out.find((m) => m.header.msg_type === 'execute_result');
    const data = result?.content['data'] as Record<string, unknown> | undefined;
    return {
      id,
      reply,
      stdout,
      result: data === undefined ? undefined : String(data['text/plain']),
    };
  }

  /** Forgets the messages received so far (long benchmark loops). */
  clear(): void {
    this.iopub.length = 0;
    this.replies.length = 0;
  }

  close(): void {
    for (const d of Object.values(this.dealers)) d.close();
    this.sub.close();
  }

  private async read(socket: zmq.Dealer | zmq.Subscriber, into: ReceivedMessage[]): Promise<void> {
    try {
      for await (const frames of socket) {
        try {
          const m = splitFrames(frames);
          into.push({
            header: parseHeader(m.header),
            parent: parseJson(m.parentHeader),
            content: parseJson(m.content),
            signatureOk: this.signer.verify(m),
          });
          for (const w of [...this.waiters]) w();
        } catch {
          // not a Jupyter message
        }
      }
    } catch {
      // closed
    }
  }

  private waitUntil<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** Ports that were free a moment ago, on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<net.Server>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
          resolve(s);
        });
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A connection file with fresh ports and `key`, written to `file`. */
export async function writeConnectionFile(file: string, key: string): Promise<ConnectionInfo> {
  const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const raw = {
    ip: '127.0.0.1',
    transport: 'tcp',
    signature_scheme: 'hmac-sha256',
    key,
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    kernel_name: 'test',
  };
  writeFileSync(file, JSON.stringify(raw), { mode: 0o600 });
  const ports: Record<Channel, number> = { shell, iopub, stdin, control, hb };
  return { transport: 'tcp', ip: '127.0.0.1', key, signatureScheme: 'hmac-sha256', ports };
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}
