// The launcher's own ZMTP sockets against real libzmq (zeromq.js) over loopback TCP: a bound
// ROUTER, PUB and REP with libzmq clients, a connecting DEALER and SUB with libzmq servers, and
// what happens when the peer is the wrong kind, goes away or is not ZeroMQ at all.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { freePorts } from './kernel-client.testutil.js';
import {
  type BoundType,
  type ZmtpServerOptions,
  ZmtpConnector,
  ZmtpServer,
} from './zmtp-sockets.js';
import {
  checkGreeting,
  command,
  encodeMessage,
  greeting,
  parseProperties,
  ready,
  ZmtpDecoder,
  type ZmtpEvent,
} from './zmtp.js';

/** How long a test waits for something that takes a few milliseconds on loopback. */
const WAIT_MS = 1500;

const cleanups: (() => void)[] = [];

/** Closes `s` after the test (whatever happened), unless closed already. */
function closeLater<T extends { close(): void }>(s: T): T {
  cleanups.push(() => {
    try {
      s.close();
    } catch {
      // closed by the test already
    }
  });
  return s;
}

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function strings(frames: readonly Buffer[]): string[] {
  return frames.map((f) => f.toString('latin1'));
}

function buffers(...texts: string[]): Buffer[] {
  return texts.map((t) => Buffer.from(t, 'latin1'));
}

type Maybe<T> = T | undefined | false;

/** Polls until `get` gives something (not undefined or false). */
async function until<T>(get: () => Maybe<T> | Promise<Maybe<T>>, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${WAIT_MS} ms`);
    await sleep(5);
  }
}

async function bindServer(
  type: BoundType,
  onMessage?: ZmtpServerOptions['onMessage'],
): Promise<{ server: ZmtpServer; endpoint: string; port: number }> {
  const [port] = (await freePorts(1)) as [number];
  const endpoint = `tcp://127.0.0.1:${port}`;
  const server = closeLater(
    await ZmtpServer.bind(endpoint, onMessage === undefined ? { type } : { type, onMessage }),
  );
  return { server, endpoint, port };
}

function dealer(options: zmq.SocketOptions<zmq.Dealer> = {}): zmq.Dealer {
  return closeLater(new zmq.Dealer({ linger: 0, receiveTimeout: WAIT_MS, ...options }));
}

function subscriber(): zmq.Subscriber {
  return closeLater(new zmq.Subscriber({ linger: 0, receiveTimeout: WAIT_MS }));
}

function router(): zmq.Router {
  return closeLater(new zmq.Router({ linger: 0, receiveTimeout: WAIT_MS, mandatory: true }));
}

/** A Subscriber or an XSubscriber. */
interface Receiver {
  receive(): Promise<Buffer[]>;
}

/**
 * Receives one message on `socket`, calling `publish` every 10 ms meanwhile: subscriptions reach
 * the publisher asynchronously, so the first messages may go nowhere.
 */
async function receiveWhilePublishing(socket: Receiver, publish: () => unknown): Promise<Buffer[]> {
  const state = { received: false };
  const message = socket.receive().finally(() => {
    state.received = true;
  });
  const deadline = Date.now() + WAIT_MS;
  while (!state.received && Date.now() < deadline) {
    await publish();
    await sleep(10);
  }
  return message;
}

/** The next message on `socket` whose first frame is not `skip`. */
async function nextExcept(socket: Receiver, skip: string): Promise<string[]> {
  for (;;) {
    const frames = strings(await socket.receive());
    if (frames[0] !== skip) return frames;
  }
}

/** Binds, trying again while the port is still held by a socket closed a moment ago. */
async function bindAgain(socket: zmq.Router, endpoint: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await socket.bind(endpoint);
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

/** A TCP peer that writes raw bytes and decodes what comes back (our codec, after checking the
 * greeting with checkGreeting). */
class RawPeer {
  readonly socket: net.Socket;
  readonly events: ZmtpEvent[] = [];
  readonly closed: Promise<void>;
  greetingSeen = false;
  bytesReceived = 0;
  private received = Buffer.alloc(0);
  private readonly decoder = new ZmtpDecoder();

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    closeLater({ close: () => this.socket.destroy() });
    this.socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      if (this.greetingSeen) {
        this.decoder.push(chunk, (e) => this.events.push(e));
        return;
      }
      this.received = Buffer.concat([this.received, chunk]);
      if (this.received.length < 64) return;
      expect(checkGreeting(this.received.subarray(0, 64))).toBe(1);
      this.greetingSeen = true;
      this.decoder.push(this.received.subarray(64), (e) => this.events.push(e));
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        resolve();
      }),
    );
  }

  /** Writes a greeting and a READY with `properties`, then `more`, in one write. */
  hello(properties: Record<string, Buffer | string>, ...more: Buffer[]): void {
    this.socket.write(Buffer.concat([greeting(), ready(properties), ...more]));
  }

  get commands(): { name: string; data: Buffer }[] {
    return this.events.flatMap((e) => (e.kind === 'command' ? [e] : []));
  }

  async waitClosed(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`not closed within ${WAIT_MS} ms`));
      }, WAIT_MS);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

describe('ZmtpServer ROUTER with zeromq.js Dealers', () => {
  it('delivers with the identity first and routes replies back to the right Dealer', async () => {
    const received: Buffer[][] = [];
    const { server, endpoint } = await bindServer('ROUTER', (frames) => received.push(frames));

    const named = dealer({ routingId: 'client-1' });
    named.connect(endpoint);
    await named.send(['hello', '', 'world']);
    await until(() => received.length === 1, 'message from client-1');
    expect(strings(received[0] as Buffer[])).toEqual(['client-1', 'hello', '', 'world']);
    server.send(buffers('client-1', 'reply', ''));
    expect(strings(await named.receive())).toEqual(['reply', '']);

    const anonymous = dealer();
    anonymous.connect(endpoint);
    await anonymous.send('from-2');
    await until(() => received.length === 2, 'message from the second Dealer');
    const [generated, ...rest] = received[1] as [Buffer, ...Buffer[]];
    expect(generated).toHaveLength(5);
    expect(generated[0]).toBe(0);
    expect(strings(rest)).toEqual(['from-2']);

    // A message to nobody is dropped; the others go where their first frame says.
    server.send([Buffer.from('nobody'), Buffer.from('lost')]);
    server.send([generated, Buffer.from('to-2')]);
    server.send([Buffer.from('client-1'), Buffer.from('to-1')]);
    expect(strings(await anonymous.receive())).toEqual(['to-2']);
    expect(strings(await named.receive())).toEqual(['to-1']);

    // The same identity for the same connection, message after message.
    await anonymous.send('again');
    await until(() => received.length === 3, 'second message from the second Dealer');
    expect((received[2] as Buffer[])[0]?.equals(generated)).toBe(true);
  });

  it('gives each Dealer without a routing id an identity of its own', async () => {
    const received: Buffer[][] = [];
    const { endpoint } = await bindServer('ROUTER', (frames) => received.push(frames));
    for (let i = 0; i < 3; i++) {
      const d = dealer();
      d.connect(endpoint);
      await d.send(String(i));
    }
    await until(() => received.length === 3, 'three messages');
    const ids = new Set(received.map((m) => (m[0] as Buffer).toString('hex')));
    expect(ids.size).toBe(3);
  });

  it('refuses a newcomer with the routing id of a connected peer, and lets it in once that one is gone', async () => {
    const received: Buffer[][] = [];
    const log: string[] = [];
    const [port] = (await freePorts(1)) as [number];
    const endpoint = `tcp://127.0.0.1:${port}`;
    const server = closeLater(
      await ZmtpServer.bind(endpoint, {
        type: 'ROUTER',
        onMessage: (frames) => received.push(frames),
        log: (line) => log.push(line),
      }),
    );
    const owner = dealer({ routingId: 'same' });
    owner.connect(endpoint);
    await owner.send('from-owner');
    await until(() => received.length === 1, 'message from the first Dealer');

    // The newcomer's handshake is refused before our READY: libzmq sends it nothing, keeps its
    // message queued and tries again every 100 ms.
    const newcomer = dealer({ routingId: 'same', receiveTimeout: 300 });
    let attempts = 0;
    newcomer.events.on('connect', () => {
      attempts++;
    });
    newcomer.connect(endpoint);
    await newcomer.send('from-newcomer');
    await until(() => attempts >= 2, 'the newcomer trying again');
    expect(received).toHaveLength(1);
    server.send(buffers('same', 'for the owner'));
    expect(strings(await owner.receive())).toEqual(['for the owner']);
    await expect(newcomer.receive()).rejects.toThrow();
    expect(log.some((l) => l.includes('the routing id "same" belongs to a connected peer'))).toBe(
      true,
    );

    // Once the first is gone (a client reconnecting after its connection died), the id is free.
    owner.close();
    const [late] = await until(() => received.length === 2 && received.slice(1), 'late message');
    expect(strings(late as Buffer[])).toEqual(['same', 'from-newcomer']);
    server.send(buffers('same', 'now yours'));
    expect(strings(await newcomer.receive())).toEqual(['now yours']);
  });

  it('refuses, before a byte of ZMTP, a connection from a socket of another uid', async () => {
    const received: Buffer[][] = [];
    const log: string[] = [];
    const [port] = (await freePorts(1)) as [number];
    const ours = process.getuid?.() ?? 0;
    const endpoint = `tcp://127.0.0.1:${port}`;
    closeLater(
      await ZmtpServer.bind(endpoint, {
        type: 'ROUTER',
        // As if this server belonged to someone else: our own sockets are the other user's.
        peerUid: ours + 4242,
        onMessage: (frames) => received.push(frames),
        log: (line) => log.push(line),
      }),
    );
    const raw = new RawPeer(port);
    await raw.waitClosed();
    expect(raw.bytesReceived).toBe(0);
    const d = dealer({ routingId: 'stranger' });
    d.connect(endpoint);
    await d.send('let me in');
    await sleep(300);
    expect(received).toHaveLength(0);
    expect(log[0]).toBe(
      `${endpoint}: refused a connection from uid ${ours} (only uid ${ours + 4242} may connect)`,
    );
  });

  it('passes a 10 MiB frame intact both ways', async () => {
    const big = randomBytes(10 * 1024 * 1024);
    const received: Buffer[][] = [];
    const { server, endpoint } = await bindServer('ROUTER', (frames) => received.push(frames));
    const d = dealer({ routingId: 'big' });
    d.connect(endpoint);

    await d.send([Buffer.from('head'), big, Buffer.from('tail')]);
    const [inbound] = await until(() => received.length === 1 && received, 'the big message');
    expect(inbound?.map((f) => f.length)).toEqual([3, 4, big.length, 4]);
    expect(inbound?.[2]?.equals(big)).toBe(true);
    expect(strings([inbound?.[3] as Buffer])).toEqual(['tail']);

    server.send([Buffer.from('big'), big, Buffer.from('end')]);
    const outbound = await d.receive();
    expect(outbound.map((f) => f.length)).toEqual([big.length, 3]);
    expect(outbound[0]?.equals(big)).toBe(true);
  });

  it('answers libzmq heartbeats (PING) so the connection stays up', async () => {
    const received: Buffer[][] = [];
    const { server, endpoint } = await bindServer('ROUTER', (frames) => received.push(frames));
    const d = dealer({ routingId: 'hb', heartbeatInterval: 20, heartbeatTimeout: 100 });
    let disconnects = 0;
    d.events.on('disconnect', () => {
      disconnects++;
    });
    d.connect(endpoint);
    await d.send('first');
    await until(() => received.length === 1, 'first message');
    // Nothing else is sent for 400 ms: only PONGs keep libzmq from dropping the connection.
    await sleep(400);
    expect(disconnects).toBe(0);
    server.send(buffers('hb', 'still here'));
    expect(strings(await d.receive())).toEqual(['still here']);
  });

  it('answers PING with PONG and the ping context (raw peer)', async () => {
    const { port } = await bindServer('ROUTER');
    const peer = new RawPeer(port);
    peer.hello(
      { 'Socket-Type': 'DEALER', Identity: 'raw' },
      command('PING', Buffer.from([0, 10, ...Buffer.from('ctx-42')])),
    );
    const pong = await until(() => peer.commands.find((c) => c.name === 'PONG'), 'PONG');
    expect(pong.data.toString('latin1')).toBe('ctx-42');
    const readyCommand = peer.commands[0];
    expect(readyCommand?.name).toBe('READY');
    const properties = parseProperties(readyCommand?.data ?? Buffer.alloc(0));
    expect(properties.get('socket-type')?.toString()).toBe('ROUTER');
  });

  it('closes a connection that sends something other than ZMTP, and keeps serving', async () => {
    const received: Buffer[][] = [];
    const { server, endpoint, port } = await bindServer('ROUTER', (frames) =>
      received.push(frames),
    );
    const http = new RawPeer(port);
    http.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await http.waitClosed();
    // All it got was our greeting (RawPeer checks it): a ROUTER sends its READY only after the
    // peer's, once it knows the peer's routing id is free.
    expect(http.greetingSeen).toBe(true);
    expect(http.events).toEqual([]);

    const d = dealer({ routingId: 'after' });
    d.connect(endpoint);
    await d.send('works');
    await until(() => received.length === 1, 'message after the garbage');
    expect(strings(received[0] as Buffer[])).toEqual(['after', 'works']);
    server.send(buffers('after', 'yes'));
    expect(strings(await d.receive())).toEqual(['yes']);
  });

  it('closes a connection whose READY is larger than 64 KiB', async () => {
    const { port } = await bindServer('ROUTER');
    const peer = new RawPeer(port);
    peer.hello({ 'Socket-Type': 'DEALER', Padding: Buffer.alloc(70_000) });
    await peer.waitClosed();
  });
});

describe('ZmtpServer REP with a zeromq.js Request socket', () => {
  it('echoes each request on the connection it came from, as the kernel heartbeat does', async () => {
    const requests: Buffer[][] = [];
    const { endpoint } = await bindServer('REP', (frames, reply) => {
      requests.push(frames);
      reply(frames);
    });
    const req = closeLater(new zmq.Request({ linger: 0, receiveTimeout: WAIT_MS }));
    req.connect(endpoint);
    for (let i = 0; i < 5; i++) {
      await req.send('ping');
      expect(strings(await req.receive())).toEqual(['ping']);
    }
    await req.send(['two', 'frames']);
    expect(strings(await req.receive())).toEqual(['two', 'frames']);
    // The envelope comes along: REQ's empty delimiter frame first.
    expect(strings(requests[0] as Buffer[])).toEqual(['', 'ping']);
    expect(requests).toHaveLength(6);
  });

  it('answers two Request sockets each with its own reply', async () => {
    const { endpoint } = await bindServer('REP', (frames, reply) => {
      reply(frames);
    });
    const a = closeLater(new zmq.Request({ linger: 0, receiveTimeout: WAIT_MS }));
    const b = closeLater(new zmq.Request({ linger: 0, receiveTimeout: WAIT_MS }));
    a.connect(endpoint);
    b.connect(endpoint);
    await Promise.all([a.send('from-a'), b.send('from-b')]);
    const [ra, rb] = await Promise.all([a.receive(), b.receive()]);
    expect(strings(ra)).toEqual(['from-a']);
    expect(strings(rb)).toEqual(['from-b']);
  });
});

describe('ZmtpServer PUB with zeromq.js Subscribers', () => {
  it('delivers by topic prefix and stops after an unsubscribe', async () => {
    const { server, endpoint } = await bindServer('PUB');
    const subA = subscriber();
    subA.subscribe('a');
    subA.connect(endpoint);
    const subAll = subscriber();
    subAll.subscribe();
    subAll.connect(endpoint);

    const probe = (): void => {
      server.send(buffers('a-probe'));
    };
    expect(strings(await receiveWhilePublishing(subA, probe))).toEqual(['a-probe']);
    expect(strings(await receiveWhilePublishing(subAll, probe))).toEqual(['a-probe']);

    server.send(buffers('b-topic', 'b-data'));
    server.send(buffers('a-topic', 'a-data'));
    // In order on each connection: 'a' sees only the second, '' sees both.
    expect(await nextExcept(subA, 'a-probe')).toEqual(['a-topic', 'a-data']);
    expect(await nextExcept(subAll, 'a-probe')).toEqual(['b-topic', 'b-data']);
    expect(await nextExcept(subAll, 'a-probe')).toEqual(['a-topic', 'a-data']);

    // The cancel travels before the new subscription: once 'z' arrives, 'a' is gone.
    subA.unsubscribe('a');
    subA.subscribe('z');
    const zProbe = (): void => {
      server.send(buffers('z-probe'));
    };
    expect(strings(await receiveWhilePublishing(subA, zProbe))).toEqual(['z-probe']);
    server.send(buffers('a-late'));
    server.send(buffers('z-end'));
    expect(await nextExcept(subA, 'z-probe')).toEqual(['z-end']);
    expect(await nextExcept(subAll, 'a-probe')).toEqual(['z-probe']);
  });

  // libzmq's SUB also filters what it receives, so the test above would pass even if the server
  // sent everything to everyone. An XSUB does not filter: what it gets is what the server chose.
  it('filters on the server: an XSubscriber gets only its topics, and nothing after a cancel', async () => {
    const { server, endpoint } = await bindServer('PUB');
    const xsub = closeLater(new zmq.XSubscriber({ linger: 0, receiveTimeout: WAIT_MS }));
    xsub.connect(endpoint);
    await xsub.send(Buffer.from('\x01a', 'latin1'));

    const probe = (): void => {
      server.send(buffers('a-probe'));
    };
    expect(strings(await receiveWhilePublishing(xsub, probe))).toEqual(['a-probe']);
    server.send(buffers('b-topic', 'b-data'));
    server.send(buffers('', 'empty topic'));
    server.send(buffers('a-topic', 'a-data'));
    expect(await nextExcept(xsub, 'a-probe')).toEqual(['a-topic', 'a-data']);

    await xsub.send(Buffer.from('\x00a', 'latin1'));
    await xsub.send(Buffer.from('\x01z', 'latin1'));
    const zProbe = (): void => {
      server.send(buffers('z-probe'));
    };
    expect(strings(await receiveWhilePublishing(xsub, zProbe))).toEqual(['z-probe']);
    server.send(buffers('a-late'));
    server.send(buffers('z-end'));
    expect(await nextExcept(xsub, 'z-probe')).toEqual(['z-end']);
  });

  it('refuses a Dealer (type mismatch): nothing delivered, and a Subscriber still works', async () => {
    const { server, endpoint } = await bindServer('PUB');
    const wrong = dealer({ receiveTimeout: 200, reconnectInterval: 50 });
    const failures: string[] = [];
    for (const type of [
      'disconnect',
      'handshake:error:protocol',
      'handshake:error:other',
    ] as const) {
      wrong.events.on(type, () => failures.push(type));
    }
    let handshakes = 0;
    wrong.events.on('handshake', () => {
      handshakes++;
    });
    wrong.connect(endpoint);
    await until(() => failures.length > 0, 'refusal of the Dealer');

    const sub = subscriber();
    sub.subscribe();
    sub.connect(endpoint);
    const publish = (): void => {
      server.send(buffers('topic', 'data'));
    };
    expect(strings(await receiveWhilePublishing(sub, publish))).toEqual(['topic', 'data']);
    await expect(wrong.receive()).rejects.toThrow();
    expect(handshakes).toBe(0);
  });

  it('sends ERROR and closes when a raw peer says it is a DEALER', async () => {
    const { port } = await bindServer('PUB');
    const peer = new RawPeer(port);
    peer.hello({ 'Socket-Type': 'DEALER' });
    await peer.waitClosed();
    const names = peer.commands.map((c) => c.name);
    expect(names).toEqual(['READY', 'ERROR']);
    const error = peer.commands[1]?.data ?? Buffer.alloc(0);
    expect(error.subarray(1, 1 + (error[0] ?? 0)).toString('latin1')).toBe('Invalid socket type');
  });
});

describe('ZmtpConnector DEALER with a zeromq.js Router', () => {
  it('connects with its identity, and replies reach onMessage', async () => {
    const r = router();
    await r.bind('tcp://127.0.0.1:*');
    const got: Buffer[][] = [];
    const connector = closeLater(
      new ZmtpConnector(r.lastEndpoint ?? '', {
        type: 'DEALER',
        identity: Buffer.from('kid'),
        onMessage: (frames) => got.push(frames),
      }),
    );
    connector.send(buffers('hi', '', 'there'));
    expect(strings(await r.receive())).toEqual(['kid', 'hi', '', 'there']);
    await r.send(['kid', 'back', 'again']);
    await until(() => got.length === 1, 'reply');
    expect(strings(got[0] as Buffer[])).toEqual(['back', 'again']);
  });

  it('holds what is sent before the Router binds, and delivers it in order once it does', async () => {
    const [port] = (await freePorts(1)) as [number];
    const endpoint = `tcp://127.0.0.1:${port}`;
    const disconnects: (Error | undefined)[] = [];
    const connector = closeLater(
      new ZmtpConnector(endpoint, {
        type: 'DEALER',
        identity: Buffer.from('kid'),
        onMessage: () => undefined,
        onDisconnect: (error) => disconnects.push(error),
      }),
    );
    connector.send(buffers('q1'));
    connector.send(buffers('q2', 'more'));
    // Two refused attempts: it does try again.
    await until(() => disconnects.length >= 2, 'two refused connection attempts');
    expect(disconnects[0]).toMatchObject({ code: 'ECONNREFUSED' });

    const r = router();
    await r.bind(endpoint);
    expect(strings(await r.receive())).toEqual(['kid', 'q1']);
    expect(strings(await r.receive())).toEqual(['kid', 'q2', 'more']);
    connector.send(buffers('q3'));
    expect(strings(await r.receive())).toEqual(['kid', 'q3']);
  });

  it('connects again when the Router goes away and comes back on the same port', async () => {
    const [port] = (await freePorts(1)) as [number];
    const endpoint = `tcp://127.0.0.1:${port}`;
    const first = router();
    await first.bind(endpoint);
    const got: Buffer[][] = [];
    const disconnects: (Error | undefined)[] = [];
    const connector = closeLater(
      new ZmtpConnector(endpoint, {
        type: 'DEALER',
        identity: Buffer.from('kid'),
        onMessage: (frames) => got.push(frames),
        onDisconnect: (error) => disconnects.push(error),
      }),
    );
    connector.send(buffers('one'));
    expect(strings(await first.receive())).toEqual(['kid', 'one']);

    first.close();
    await until(() => disconnects.length >= 1, 'disconnect');
    connector.send(buffers('two'));

    const second = router();
    await bindAgain(second, endpoint);
    expect(strings(await second.receive())).toEqual(['kid', 'two']);
    await second.send(['kid', 'welcome back']);
    await until(() => got.length === 1, 'reply from the second Router');
    expect(strings(got[0] as Buffer[])).toEqual(['welcome back']);
    connector.send(buffers('three'));
    expect(strings(await second.receive())).toEqual(['kid', 'three']);
  });
});

describe('ZmtpConnector SUB with a zeromq.js Publisher', () => {
  it('subscribes to everything and receives what is published', async () => {
    const pub = closeLater(new zmq.Publisher({ linger: 0 }));
    await pub.bind('tcp://127.0.0.1:*');
    const got: Buffer[][] = [];
    closeLater(
      new ZmtpConnector(pub.lastEndpoint ?? '', {
        type: 'SUB',
        onMessage: (frames) => got.push(frames),
      }),
    );
    await until(async () => {
      await pub.send(['iopub', 'payload']);
      return got.length > 0;
    }, 'a published message');
    expect(strings(got[0] as Buffer[])).toEqual(['iopub', 'payload']);
    // Once subscribed, nothing is lost or reordered.
    const numbered = (): string[] =>
      got.flatMap((m) => (m[0]?.toString() === 'n' ? [String(m[1])] : []));
    for (let i = 0; i < 20; i++) await pub.send(['n', String(i)]);
    await until(() => numbered().length === 20, 'twenty more messages');
    expect(numbered()).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });
});

describe('ipc:// endpoints (Unix sockets), as a connection file with transport "ipc" names them', () => {
  it('serves a ROUTER to a zeromq.js Dealer, and connects a DEALER to a zeromq.js Router', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-zmtp-ipc-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const received: string[][] = [];
    const served = closeLater(
      await ZmtpServer.bind(`ipc://${dir}/kernel-1`, {
        type: 'ROUTER',
        onMessage: (frames) => received.push(strings(frames)),
      }),
    );
    const client = dealer({ routingId: 'ipc-client' });
    client.connect(`ipc://${dir}/kernel-1`);
    await client.send(buffers('hello'));
    expect(await until(() => received[0], 'message over ipc')).toEqual(['ipc-client', 'hello']);
    served.send(buffers('ipc-client', 'back'));
    expect(strings(await client.receive())).toEqual(['back']);

    const remote = router();
    await remote.bind(`ipc://${dir}/kernel-2`);
    const replies: string[][] = [];
    const connector = closeLater(
      new ZmtpConnector(`ipc://${dir}/kernel-2`, {
        type: 'DEALER',
        identity: Buffer.from('kid'),
        onMessage: (frames) => replies.push(strings(frames)),
      }),
    );
    connector.send(buffers('ping'));
    const [identity, body] = await remote.receive();
    expect(strings([identity as Buffer, body as Buffer])).toEqual(['kid', 'ping']);
    await remote.send([identity as Buffer, Buffer.from('pong')]);
    expect(await until(() => replies[0], 'reply over ipc')).toEqual(['pong']);
  });

  it('makes the socket file 0600 from the start (no one else may connect), and removes it on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-zmtp-ipc-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const path = join(dir, 'kernel-shell');
    const served = await ZmtpServer.bind(`ipc://${path}`, { type: 'ROUTER' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // The private directory it was bound in is gone; only the socket is left.
    expect(readdirSync(dir)).toEqual(['kernel-shell']);
    served.close();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a socket file left by a process that died, but never one in use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-zmtp-ipc-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const path = join(dir, 'kernel-1');
    // A listener killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(path)).toBe(true);
    const served = closeLater(await ZmtpServer.bind(`ipc://${path}`, { type: 'ROUTER' }));
    expect(served).toBeInstanceOf(ZmtpServer);

    await expect(ZmtpServer.bind(`ipc://${path}`, { type: 'ROUTER' })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

describe('bounds on what a peer can make the server hold', () => {
  /** A raw DEALER that has done its handshake with the ROUTER on `port`. */
  async function handshaken(port: number): Promise<RawPeer> {
    const peer = new RawPeer(port);
    peer.hello({ 'Socket-Type': 'DEALER', Identity: `raw-${randomBytes(4).toString('hex')}` });
    await until(() => peer.commands.some((c) => c.name === 'READY'), 'READY');
    return peer;
  }

  async function routerWithLog(
    extra: Partial<ZmtpServerOptions> = {},
  ): Promise<{ port: number; endpoint: string; log: string[]; received: Buffer[][] }> {
    const [port] = (await freePorts(1)) as [number];
    const endpoint = `tcp://127.0.0.1:${port}`;
    const log: string[] = [];
    const received: Buffer[][] = [];
    closeLater(
      await ZmtpServer.bind(endpoint, {
        type: 'ROUTER',
        onMessage: (frames) => received.push(frames),
        log: (line) => log.push(line),
        ...extra,
      }),
    );
    return { port, endpoint, log, received };
  }

  /** A Dealer still gets through: the server kept serving. */
  async function stillServes(endpoint: string, received: Buffer[][]): Promise<void> {
    const before = received.length;
    const d = dealer({ routingId: `after-${randomBytes(4).toString('hex')}` });
    d.connect(endpoint);
    await d.send('still there?');
    await until(() => received.length > before, 'a message after the attack');
  }

  it('closes a connection whose frame header announces 2^62 bytes, at the header', async () => {
    const { port, endpoint, log, received } = await routerWithLog();
    const peer = await handshaken(port);
    const header = Buffer.alloc(9);
    header[0] = 0x02;
    header.writeBigUInt64BE(2n ** 62n, 1);
    peer.socket.write(header);
    await peer.waitClosed();
    expect(log.at(-1)).toBe(
      `${endpoint}: closed a connection: a ${2n ** 62n}-byte frame (a message may have at most 1073741824 bytes)`,
    );
    await stillServes(endpoint, received);
  });

  it('closes a connection sending endless MORE frames once it passes 10,000', async () => {
    const { port, endpoint, log, received } = await routerWithLog();
    const peer = await handshaken(port);
    const more = Buffer.alloc(2 * 5000);
    for (let i = 0; i < more.length; i += 2) more[i] = 0x01; // MORE, 0 bytes
    // Writes until the server closes; nothing ever ends the message.
    for (let i = 0; i < 100 && !peer.socket.destroyed; i++) {
      peer.socket.write(more);
      await sleep(1);
    }
    await peer.waitClosed();
    expect(log.at(-1)).toBe(
      `${endpoint}: closed a connection: a message of more than 10000 frames`,
    );
    expect(received).toHaveLength(0);
    await stillServes(endpoint, received);
  });

  it('closes a message larger than the bound as soon as its frames add up past it', async () => {
    const { port, endpoint, log, received } = await routerWithLog({ maxMessageBytes: 1000 });
    const peer = await handshaken(port);
    peer.socket.write(Buffer.concat(encodeMessage([Buffer.alloc(600), Buffer.alloc(401)])));
    await peer.waitClosed();
    expect(log.at(-1)).toMatch(/a 401-byte frame would make a message of more than 1000 bytes$/);
    await stillServes(endpoint, received);
  });

  it('sends ERROR and closes when the handshake is not done in time', async () => {
    const { port, endpoint, log, received } = await routerWithLog({ handshakeMs: 200 });
    const peer = new RawPeer(port);
    peer.socket.write(greeting()); // and then nothing
    await peer.waitClosed();
    const error = peer.commands.find((c) => c.name === 'ERROR');
    expect(error?.data.subarray(1).toString('latin1')).toBe('no ZMTP handshake within 0.2 s');
    expect(log.at(-1)).toBe(`${endpoint}: closed a connection: no ZMTP handshake within 0.2 s`);
    await stillServes(endpoint, received);
  });

  it('sends ERROR and closes on a message frame before READY (nothing buffered for it)', async () => {
    const { port, log } = await routerWithLog();
    const peer = new RawPeer(port);
    const header = Buffer.alloc(9);
    header[0] = 0x02;
    header.writeBigUInt64BE(512n * 1024n * 1024n, 1);
    peer.socket.write(Buffer.concat([greeting(), header]));
    await peer.waitClosed();
    expect(peer.commands.map((c) => c.name)).toEqual(['ERROR']);
    expect(log.at(-1)).toMatch(/a message frame before the handshake \(READY\) was done$/);
  });

  it('drops messages for a subscriber that never reads, and never holds back one that does', async () => {
    const bound = 4 * 1024 * 1024;
    const [port] = (await freePorts(1)) as [number];
    const endpoint = `tcp://127.0.0.1:${port}`;
    const log: string[] = [];
    const pub = closeLater(
      await ZmtpServer.bind(endpoint, {
        type: 'PUB',
        maxBacklogBytes: bound,
        log: (line) => log.push(line),
      }),
    );
    const stuck = new RawPeer(port);
    stuck.hello({ 'Socket-Type': 'SUB' }, command('SUBSCRIBE'));
    await until(() => stuck.commands.some((c) => c.name === 'READY'), 'READY');
    stuck.socket.pause();
    const reader = subscriber();
    reader.subscribe('out');
    reader.connect(endpoint);
    let got = 0;
    let probes = 0;
    const reading = (async () => {
      for await (const [topic] of reader) {
        if (topic?.toString() === 'out') got++;
        else probes++;
      }
    })().catch(() => undefined);
    await until(() => {
      pub.send(buffers('out-probe'));
      return probes > 0;
    }, 'the reader subscribed');
    const start = got;
    // 125 MiB in 2000 messages: more than the stuck peer's socket buffers and the bound, and
    // more messages than the high-water mark (a backlog count that never went down would show).
    const payload = randomBytes(64 * 1024);
    const count = 2000;
    for (let i = 0; i < count; i += 16) {
      for (let j = 0; j < 16; j++) pub.send([Buffer.from('out'), payload]);
      await until(() => got - start >= i + 16, `message ${i + 15} at the reader`);
    }
    expect(got - start).toBe(count);
    expect(log.some((l) => l.includes('a peer is not reading'))).toBe(true);

    // What the stuck peer can still read is its socket buffers and the bound, not 125 MiB.
    const kernelBuffers = maxSysctl('net/ipv4/tcp_rmem') + maxSysctl('net/ipv4/tcp_wmem');
    let stuckBytes = 0;
    stuck.socket.on('data', (chunk: Buffer) => (stuckBytes += chunk.length));
    stuck.socket.resume();
    // Until nothing more comes for 300 ms: everything held for it has arrived.
    for (let last = -1; last !== stuckBytes;) {
      last = stuckBytes;
      await sleep(300);
    }
    expect(stuckBytes).toBeGreaterThan(0);
    expect(stuckBytes).toBeLessThan(Math.min(kernelBuffers + bound, count * payload.length));
    reader.close();
    await reading;
  }, 60_000);
});

/** The largest value of a tcp_rmem/tcp_wmem-style sysctl (min default max). */
function maxSysctl(name: string): number {
  const text = readFileSync(`/proc/sys/${name}`, 'utf8').trim().split(/\s+/);
  return Number(text.at(-1));
}
