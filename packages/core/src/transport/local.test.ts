import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, CommandError, TimeoutError } from '../errors.js';
import { LocalTransport } from './local.js';

let dir: string;
let transport: LocalTransport;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-local-'));
  transport = new LocalTransport({ killGraceMs: 500 });
});

afterEach(async () => {
  await transport.close();
  await rm(dir, { recursive: true, force: true });
});

/** True while a process with this pid exists and is not a zombie. */
async function processLives(pid: number): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitUntil(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('LocalTransport.run', () => {
  it('runs argv without a shell and returns exit code and output', async () => {
    const result = await transport.run([
      'sh',
      '-c',
      'echo "out $1"; echo err >&2; exit 4',
      'sh',
      'a;b $x',
    ]);
    expect(result).toEqual({ code: 4, stdout: 'out a;b $x\n', stderr: 'err\n' });
  });

  it('passes arguments literally (no globbing, no expansion)', async () => {
    const result = await transport.run(['printf', '%s|', '*', '$HOME', '`id`']);
    expect(result.stdout).toBe('*|$HOME|`id`|');
  });

  it('writes stdin and closes it', async () => {
    const result = await transport.run(['cat'], { stdin: 'héllo\n' });
    expect(result.stdout).toBe('héllo\n');
    const bytes = await transport.run(['wc', '-c'], { stdin: new Uint8Array([1, 2, 3]) });
    expect(bytes.stdout.trim()).toBe('3');
  });

  it('decodes multi-byte UTF-8 split across chunks', async () => {
    const result = await transport.run([
      process.execPath,
      '-e',
      "const b = Buffer.from('€'); process.stdout.write(b.subarray(0, 1)); setTimeout(() => process.stdout.write(b.subarray(1)), 50);",
    ]);
    expect(result.stdout).toBe('€');
  });

  it('merges env over the process environment', async () => {
    const result = await transport.run(['sh', '-c', 'echo "$HPCJ_A:$PATH"'], {
      env: { HPCJ_A: 'set' },
    });
    expect(result.stdout.startsWith('set:')).toBe(true);
    expect(result.stdout.trim().length).toBeGreaterThan('set:'.length);
  });

  it('says which executable is missing', async () => {
    const run = transport.run(['hpcj-no-such-command', '--flag']);
    await expect(run).rejects.toBeInstanceOf(CommandError);
    await expect(run).rejects.toThrow('Command not found: hpcj-no-such-command');
  });

  it('kills the whole process group on timeout', async () => {
    const pidFile = path.join(dir, 'pid');
    const started = Date.now();
    const run = transport.run(['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], {
      timeout: 300,
    });
    await expect(run).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(3000);
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    await waitUntil(async () => !(await processLives(grandchild)));
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const pidFile = path.join(dir, 'pid');
    const run = transport.run(
      ['sh', '-c', `trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done`],
      { timeout: 300 },
    );
    await expect(run).rejects.toBeInstanceOf(TimeoutError);
    const pid = Number(await readFile(pidFile, 'utf8'));
    expect(await processLives(pid)).toBe(true); // TERM was ignored ...
    await waitUntil(async () => !(await processLives(pid))); // ... KILL was not
  });

  it('stops the command when the signal aborts', async () => {
    const controller = new AbortController();
    const run = transport.run(['sleep', '30'], { signal: controller.signal });
    setTimeout(() => {
      controller.abort();
    }, 100);
    await expect(run).rejects.toBeInstanceOf(AbortedError);
  });

  it('rejects at once for an aborted signal', async () => {
    await expect(transport.run(['true'], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
  });

  it('stops running commands on close', async () => {
    const run = transport.run(['sleep', '30']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await transport.close();
    await expect(run).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('LocalTransport files', () => {
  it('writes atomically with the exact mode, whatever the umask', async () => {
    const file = path.join(dir, 'secret');
    const old = process.umask(0o077);
    try {
      await transport.writeFileAtomic(file, 'one', { mode: 0o644 });
    } finally {
      process.umask(old);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    await transport.writeFileAtomic(file, new Uint8Array([0x74, 0x77, 0x6f]), { mode: 0o600 });
    expect(await readFile(file, 'utf8')).toBe('two');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['secret']); // no temp files left behind
    expect((await transport.readFile(file)).toString()).toBe('two');
  });

  it('leaves no temp file when the write fails', async () => {
    await expect(
      transport.writeFileAtomic(path.join(dir, 'missing-dir', 'f'), 'x', { mode: 0o600 }),
    ).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });

  it('creates directories with the mode, chmod-ing the last one', async () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    const old = process.umask(0o022);
    try {
      await transport.mkdir(deep, { mode: 0o770 });
    } finally {
      process.umask(old);
    }
    expect((await stat(deep)).mode & 0o777).toBe(0o770);
    await transport.mkdir(deep, { mode: 0o700 }); // existing: no error, mode applied
    expect((await stat(deep)).mode & 0o777).toBe(0o700);
  });

  it('tells whether paths exist and removes files idempotently', async () => {
    const file = path.join(dir, 'f');
    expect(await transport.exists(file)).toBe(false);
    await writeFile(file, 'x');
    expect(await transport.exists(file)).toBe(true);
    expect(await transport.exists(path.join(file, 'below'))).toBe(false);
    await transport.remove(file);
    await transport.remove(file);
    expect(await transport.exists(file)).toBe(false);
  });
});

describe('LocalTransport.forward', () => {
  it('relays a loopback port to the target and closes cleanly', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const target = (echo.address() as net.AddressInfo).port;
    try {
      const forward = await transport.forward('127.0.0.1', target);
      expect(forward.localHost).toBe('127.0.0.1');
      expect(forward.localPort).not.toBe(target);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(forward.localPort, '127.0.0.1', () => socket.write('ping'));
        socket.once('data', (data) => {
          resolve(data.toString());
          socket.destroy();
        });
        socket.once('error', reject);
      });
      expect(reply).toBe('ping');
      await forward.close();
      await expect(
        new Promise((resolve, reject) => {
          const socket = net.connect(forward.localPort, '127.0.0.1', () => {
            resolve('connected');
          });
          socket.once('error', reject);
        }),
      ).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      echo.close();
    }
  });
});
