/**
 * SshTransport against an in-process fake login node (ssh2.Server that really runs commands):
 * commands, quoting, multiplexing, reconnects, timeouts and cancellation.
 */

import { afterEach, describe, expect, it } from 'vitest';

import {
  AbortedError,
  ConnectionLostError,
  InvalidInputError,
  SshError,
  TimeoutError,
} from '../errors.js';
import { INSTANT_COMMAND, startFake, type FakeSetup } from './ssh-fake-server.testutil.js';
import type { SshTarget, SshTransportOptions } from './ssh-options.js';

const cleanups: (() => Promise<void>)[] = [];
function setup(
  serverOptions: Parameters<typeof startFake>[1] = {},
  target: Partial<SshTarget> = {},
  options: SshTransportOptions = {},
): Promise<FakeSetup> {
  return startFake(cleanups, serverOptions, target, options);
}

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

describe('SshTransport.run', () => {
  it('runs argv with stdout, stderr, exit code and stdin', async () => {
    const { transport } = await setup();
    const r = await transport.run(['sh', '-c', 'cat; echo err >&2; exit 3'], { stdin: 'in\n' });
    expect(r).toEqual({ code: 3, stdout: 'in\n', stderr: 'err\n' });
    expect(transport.label).toBe('tester@127.0.0.1');
  });

  it('keeps the exit status and output of a command that finishes in one burst', async () => {
    const { transport } = await setup();
    for (let i = 0; i < 5; i++) {
      expect(await transport.run([INSTANT_COMMAND])).toEqual({
        code: 7,
        stdout: 'instant\n',
        stderr: '',
      });
    }
  });

  it('delivers hostile arguments through the remote shell intact', async () => {
    const { transport, server } = await setup();
    const hostile = [
      'a b',
      "it's",
      '$(touch /tmp/hpcj-pwned)',
      '`id`',
      'x;y|z&',
      'new\nline',
      'ünï✓',
      '',
      '*',
      '~',
    ];
    const r = await transport.run(['printf', '%s\\0', ...hostile]);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(hostile);
    expect(server.commands.at(-1)).toContain("'$(touch /tmp/hpcj-pwned)'");
  });

  it('passes env through `env NAME=VALUE` and rejects bad names before connecting', async () => {
    const { transport, server } = await setup();
    const r = await transport.run(['sh', '-c', 'printf %s "$GREETING"'], {
      env: { GREETING: "hello 'world' $(id)" },
    });
    expect(r.stdout).toBe("hello 'world' $(id)");
    await expect(transport.run(['true'], { env: { 'BAD-NAME': 'x' } })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(transport.run([])).rejects.toBeInstanceOf(InvalidInputError);
    expect(server.commands).toHaveLength(1);
  });

  it('decodes multi-byte UTF-8 split across packets', async () => {
    const { transport } = await setup();
    // ~200 KB of 2-, 3- and 4-byte characters: packet boundaries fall inside characters.
    const r = await transport.run([
      'sh',
      '-c',
      'i=0; while [ $i -lt 5000 ]; do printf "é✓🚀日本語テキスト"; i=$((i+1)); done',
    ]);
    expect(r.stdout).toBe('é✓🚀日本語テキスト'.repeat(5000));
    expect(r.stdout).not.toContain('\ufffd');
  });

  it('multiplexes 20 concurrent commands over one connection within the session limit', async () => {
    const { transport, server } = await setup();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => transport.run(['sh', '-c', `sleep 0.1; echo ${i}`])),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(server.connections).toBe(1);
    expect(server.peakSessions).toBeLessThanOrEqual(8);
    expect(server.peakSessions).toBeGreaterThan(1);
  });

  it('adapts to a server that allows fewer sessions than assumed', async () => {
    const { transport, server } = await setup({ maxSessions: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => transport.run(['sh', '-c', `sleep 0.05; echo ${i}`])),
    );
    expect(results.every((r, i) => r.stdout === `${i}\n`)).toBe(true);
    expect(server.peakSessions).toBe(3);
    expect(server.connections).toBe(1);
  });

  it('stops a command on timeout and on abort', async () => {
    const { transport, server } = await setup();
    const started = Date.now();
    const err = await transport.run(['sleep', '30'], { timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toContain('sleep 30');
    expect(Date.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const running = transport.run(['sleep', '30'], { signal: controller.signal });
    setTimeout(() => {
      controller.abort();
    }, 200);
    await expect(running).rejects.toBeInstanceOf(AbortedError);
    // (ssh2's server ignores signal requests after EOF, so the KILL itself is proven against
    // the real sshd in ssh-sshd.test.ts.)
    // The connection survives both: the next command runs on it.
    expect((await transport.run(['echo', 'ok'])).stdout).toBe('ok\n');
    expect(server.connections).toBe(1);
  });

  it('rejects an already aborted signal without running anything', async () => {
    const { transport, server } = await setup();
    const controller = new AbortController();
    controller.abort();
    await expect(transport.run(['true'], { signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(server.commands).toEqual([]);
  });
});

describe('SshTransport connection handling', () => {
  it('reconnects after a dropped connection, once for concurrent callers', async () => {
    const { transport, server } = await setup();
    expect((await transport.run(['echo', 'one'])).stdout).toBe('one\n');
    server.dropAll();
    await new Promise((r) => setTimeout(r, 50));
    const results = await Promise.all(
      Array.from({ length: 5 }, () => transport.run(['echo', 'two'])),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array(5).fill('two\n'));
    expect(server.connections).toBe(2);
  });

  it('fails a command that was running when the connection dropped, and does not re-run it', async () => {
    const { transport, server } = await setup();
    const running = transport.run(['sh', '-c', 'sleep 5; echo done']);
    // Drop only once the server really runs it: on a loaded machine connecting takes a while.
    for (let i = 0; i < 200 && !server.commands.some((c) => c.includes('sleep 5')); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    server.dropAll();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(err).toBeInstanceOf(SshError);
    expect((err as Error).message).toMatch(/lost while running sh -c 'sleep 5; echo done'/);
    expect((await transport.run(['echo', 'again'])).stdout).toBe('again\n');
    expect(server.commands.filter((c) => c.includes('sleep 5'))).toHaveLength(1);
  });

  it('close() fails running and later operations', async () => {
    const { transport, server } = await setup();
    const running = transport.run(['sleep', '30']);
    await new Promise((r) => setTimeout(r, 300));
    await transport.close();
    await expect(running).rejects.toBeInstanceOf(SshError);
    await expect(transport.run(['true'])).rejects.toThrow(/closed/);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.openSockets).toBe(0);
  });

  it('times out connecting to something that never speaks SSH', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    cleanups.push(
      () =>
        new Promise((resolve) =>
          silent.close(() => {
            resolve();
          }),
        ),
    );
    silent.on('connection', (s) => cleanups.push(() => Promise.resolve(void s.destroy())));
    const { transport } = await setup({}, { port, connectTimeoutMs: 300 });
    const started = Date.now();
    await expect(transport.run(['true'])).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('says clearly when nothing listens', async () => {
    const { transport, server } = await setup();
    await server.stop();
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as Error).message).toMatch(
      /Cannot connect to tester@127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
  });
});
