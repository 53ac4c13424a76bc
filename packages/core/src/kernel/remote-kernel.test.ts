// The remote kernel's heartbeat watch and session probe against real ZeroMQ sockets on loopback
// (a ROUTER echoing as ipykernel's heartbeat does, a ROUTER answering kernel_info on control):
// a silence is reported once, the pings go on, and the first beat back is reported.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { freePorts } from './kernel-client.testutil.js';
import { RemoteKernel } from './remote-kernel.js';
import { MessageFactory, Signer, splitFrames } from './wire.js';

const sockets: zmq.Router[] = [];
let kernel: RemoteKernel | undefined;

afterEach(() => {
  kernel?.close();
  kernel = undefined;
  for (const s of sockets.splice(0)) s.close();
});

/** A ROUTER on `port` that sends every message back (ipykernel's heartbeat device). */
async function echo(port: number): Promise<zmq.Router> {
  const router = new zmq.Router({ linger: 0 });
  await router.bind(`tcp://127.0.0.1:${port}`);
  sockets.push(router);
  void (async () => {
    try {
      for await (const frames of router) await router.send(frames);
    } catch {
      // closed
    }
  })();
  return router;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

describe('RemoteKernel', () => {
  it('reports a heartbeat silence once and the first beat after it, without giving up', async () => {
    const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const at = (p: number): string => `tcp://127.0.0.1:${p}`;
    const factory = new MessageFactory(new Signer(randomUUID(), 'hmac-sha256'));
    kernel = new RemoteKernel({
      endpoints: {
        shell: at(shell),
        iopub: at(iopub),
        stdin: at(stdin),
        control: at(control),
        hb: at(hb),
      },
      factory,
      onReply: () => undefined,
      onIopub: () => undefined,
    });
    const events: string[] = [];
    const first = await echo(hb);
    kernel.watchHeartbeat(
      {
        onSilent: () => events.push('silent'),
        onBack: () => events.push('back'),
      },
      50,
      400,
    );
    await sleep(600);
    expect(events).toEqual([]);
    // The way to the kernel goes away for longer than the limit: one notice, not an end.
    first.close();
    await until(() => events.length > 0, 3000);
    await sleep(800);
    expect(events).toEqual(['silent']);
    await echo(hb);
    await until(() => events.length > 1, 3000);
    await sleep(300);
    expect(events).toEqual(['silent', 'back']);
  });

  it("asks on control for the answering kernel's session, and says when none answers", async () => {
    const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const at = (p: number): string => `tcp://127.0.0.1:${p}`;
    const factory = new MessageFactory(new Signer(randomUUID(), 'hmac-sha256'));
    kernel = new RemoteKernel({
      endpoints: {
        shell: at(shell),
        iopub: at(iopub),
        stdin: at(stdin),
        control: at(control),
        hb: at(hb),
      },
      factory,
      onReply: () => undefined,
      onIopub: () => undefined,
    });
    expect(await kernel.currentSession(300)).toBeUndefined();
    const kernelSide = new MessageFactory(new Signer(randomUUID(), 'hmac-sha256'));
    const router = new zmq.Router({ linger: 0 });
    await router.bind(at(control));
    sockets.push(router);
    void (async () => {
      try {
        for await (const [identity, ...frames] of router) {
          const request = splitFrames(frames);
          const reply = kernelSide.make({
            msgType: 'kernel_info_reply',
            content: { status: 'ok' },
            parentHeader: request.header,
          });
          await router.send([identity as Buffer, ...reply]);
        }
      } catch {
        // closed
      }
    })();
    expect(await kernel.currentSession(3000)).toBe(kernelSide.session);
  });
});
