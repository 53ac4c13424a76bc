/**
 * SshTransport against a real OpenSSH sshd on loopback: SFTP (atomic writes, explicit modes under
 * a hostile umask, mkdir, ~ paths), port forwarding across a reconnect, remote processes killed on
 * timeout, a low MaxSessions, and ProxyJump through sshd itself.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet, type Server } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConnectionLostError, SshError, TimeoutError } from '../errors.js';
import { declining } from './ssh-fake-server.testutil.js';
import type { SshTarget } from './ssh-options.js';
import { SshTransport } from './ssh.js';
import { sshdUnavailable, startSshd, type RunningSshd } from './sshd.testutil.js';

const unavailable = sshdUnavailable();
if (unavailable !== undefined) console.warn(`skipping sshd tests: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('SshTransport against OpenSSH sshd', () => {
  let sshd: RunningSshd;
  let lowLimit: RunningSshd;
  const transports: SshTransport[] = [];

  beforeAll(async () => {
    [sshd, lowLimit] = await Promise.all([
      startSshd({ sftpUmask: '077' }),
      startSshd({ maxSessions: 2 }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all(transports.map((t) => t.close()));
    await Promise.all([sshd.stop(), lowLimit.stop()]);
  });

  function open(server: RunningSshd = sshd, extra: Partial<SshTarget> = {}): SshTransport {
    const t = new SshTransport(
      {
        host: '127.0.0.1',
        port: server.port,
        user: server.user,
        identityFile: server.identityFile,
        knownHostsFile: server.knownHostsFile,
        configFile: null,
        ...extra,
      },
      {
        prompter: declining,
        agentSocket: null,
        systemConfigFile: null,
        globalKnownHostsFiles: [],
        homeDir: server.dir,
      },
    );
    transports.push(t);
    return t;
  }

  /** One GET on a fresh TCP connection (fetch would reuse pooled sockets across the drop). */
  function get(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
      httpGet(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve(body);
        });
        res.on('error', reject);
      }).on('error', reject);
    });
  }

  function scratch(): string {
    return mkdtempSync(join(tmpdir(), 'hpcj-sftp-'));
  }

  it('writes atomically with explicit modes whatever the server umask, leaving no temp files', async () => {
    const t = open();
    const base = scratch();
    const dir = join(base, 'a', 'b');
    await t.mkdir(dir, { mode: 0o700 });
    await t.writeFileAtomic(join(dir, 'secret'), 'first\n', { mode: 0o600 });
    await t.writeFileAtomic(join(dir, 'secret'), 'ünïcødé second\n', { mode: 0o600 });
    await t.writeFileAtomic(join(dir, 'shared'), new Uint8Array([1, 2, 3]), { mode: 0o644 });
    expect(statSync(join(base, 'a')).mode & 0o7777).toBe(0o700);
    expect(statSync(dir).mode & 0o7777).toBe(0o700);
    expect(statSync(join(dir, 'secret')).mode & 0o7777).toBe(0o600);
    // umask 077 on the server would have made this 0600 without the explicit chmod.
    expect(statSync(join(dir, 'shared')).mode & 0o7777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(['secret', 'shared']);
    expect((await t.readFile(join(dir, 'secret'))).toString()).toBe('ünïcødé second\n');
    expect([...(await t.readFile(join(dir, 'shared')))]).toEqual([1, 2, 3]);
  });

  it('writes a large file intact', async () => {
    const t = open();
    const file = join(scratch(), 'big');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 'xyz');
    await t.writeFileAtomic(file, data, { mode: 0o600 });
    expect((await t.readFile(file)).equals(data)).toBe(true);
  });

  it('leaves existing directories alone and refuses a file in the way', async () => {
    const t = open();
    const base = scratch();
    execFileSync('chmod', ['755', base]);
    await t.mkdir(join(base, 'new'), { mode: 0o750 });
    expect(statSync(base).mode & 0o777).toBe(0o755);
    expect(statSync(join(base, 'new')).mode & 0o777).toBe(0o750);
    await t.mkdir(join(base, 'new'), { mode: 0o700 }); // exists: fine, unchanged
    expect(statSync(join(base, 'new')).mode & 0o777).toBe(0o750);
    writeFileSync(join(base, 'file'), 'x');
    await expect(t.mkdir(join(base, 'file', 'sub'), { mode: 0o700 })).rejects.toThrow(
      /not a directory/,
    );
  });

  it('answers exists and removes, a missing file being fine', async () => {
    const t = open();
    const file = join(scratch(), 'f');
    expect(await t.exists(file)).toBe(false);
    await t.writeFileAtomic(file, 'x', { mode: 0o600 });
    expect(await t.exists(file)).toBe(true);
    await t.remove(file);
    await t.remove(file);
    expect(await t.exists(file)).toBe(false);
    await expect(t.readFile(file)).rejects.toThrow(SshError);
  });

  it('resolves ~ and relative paths against the remote home', async () => {
    const t = open();
    const home = userInfo().homedir;
    const file = join(scratch(), 'rel');
    writeFileSync(file, 'relative');
    expect(await t.exists('~')).toBe(true);
    expect((await t.readFile(relative(home, file))).toString()).toBe('relative');
    expect((await t.readFile(`~/${relative(home, file)}`)).toString()).toBe('relative');
  });

  it('forwards a local port to a loopback HTTP server, surviving a bad connection and a reconnect', async () => {
    const t = open();
    const http: Server = createServer((req, res) => res.end(`hello ${req.url ?? ''}`));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const forward = await t.forward('127.0.0.1', port);
      expect(forward.localHost).toBe('127.0.0.1');
      expect(forward.localPort).toBeGreaterThan(0);
      const url = `http://127.0.0.1:${forward.localPort}`;
      expect(await get(`${url}/one`)).toBe('hello /one');

      // A forward to a closed port fails its connection only.
      const dead = await t.forward('127.0.0.1', 1);
      await expect(get(`http://127.0.0.1:${dead.localPort}/`)).rejects.toThrow();
      await dead.close();
      expect(await get(`${url}/two`)).toBe('hello /two');

      // Kill the sshd process serving our connection: new sockets must use a new connection.
      const servingPid = Number((await t.run(['sh', '-c', 'echo $PPID'])).stdout.trim());
      process.kill(servingPid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      expect(await get(`${url}/three`)).toBe('hello /three');
      const newPid = Number((await t.run(['sh', '-c', 'echo $PPID'])).stdout.trim());
      expect(newPid).not.toBe(servingPid);

      await forward.close();
      await expect(get(`${url}/four`)).rejects.toThrow();
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('sends KILL to the remote process on timeout, after stdin EOF', async () => {
    const t = open();
    const marker = `${31 + Math.random()}`.slice(0, 8);
    await expect(t.run(['sleep', marker], { timeout: 500 })).rejects.toBeInstanceOf(TimeoutError);
    await new Promise((r) => setTimeout(r, 300));
    // Anchored, so the shell running pgrep (whose command line contains the pattern) is not found.
    const left = (await t.run(['pgrep', '-f', `^sleep ${marker}`])).stdout.trim();
    if (process.getuid?.() === 0) {
      // OpenSSH runs root sessions without privilege separation and then refuses signals; the
      // request reaching sshd is what we can prove here (ssh2's channel.signal() would have
      // dropped it after EOF). A normal user's process is killed: checked below when not root.
      expect(sshd.log()).toMatch(
        /session_signal_req: (signal KILL|session signalling requires privilege separation)/,
      );
      if (left !== '') process.kill(Number(left), 'SIGKILL');
    } else {
      expect(left).toBe('');
    }
  });

  it('reports a command cut off by a dropped connection and then reconnects', async () => {
    const t = open();
    const running = t.run(['sh', '-c', 'echo $PPID >&2; sleep 10']);
    await new Promise((r) => setTimeout(r, 500));
    const pids = (await t.run(['pgrep', '-f', 'sleep 10'])).stdout.trim().split('\n');
    const parent = execFileSync('ps', ['-o', 'ppid=', '-p', pids[0] ?? '0'])
      .toString()
      .trim();
    process.kill(Number(parent), 'SIGTERM');
    await expect(running).rejects.toBeInstanceOf(ConnectionLostError);
    expect((await t.run(['echo', 'back'])).stdout).toBe('back\n');
  });

  it('runs 20 concurrent commands under MaxSessions 2 over one connection', async () => {
    const t = open(lowLimit);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.run(['sh', '-c', `sleep 0.05; echo ${i}`])),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    // SFTP shares the limit: a file operation in the middle of commands still works.
    const file = join(scratch(), 'f');
    await Promise.all([
      t.writeFileAtomic(file, 'ok', { mode: 0o600 }),
      ...Array.from({ length: 4 }, () => t.run(['true'])),
    ]);
    expect((await t.readFile(file)).toString()).toBe('ok');
    const conns = (await t.run(['sh', '-c', 'ps -o ppid= -p $$'])).stdout.trim();
    expect(Number(conns)).toBeGreaterThan(1);
  });

  it('jumps through sshd to sshd (direct-tcpip) with host keys of both checked', async () => {
    const t = open(lowLimit, {
      proxyJump: `${sshd.user}@127.0.0.1:${sshd.port}`,
      knownHostsFile: join(scratch(), 'known_hosts'),
    });
    writeFileSync(
      t.target.knownHostsFile ?? '',
      execFileSync('cat', [sshd.knownHostsFile, lowLimit.knownHostsFile]),
    );
    // The jump host's own key file is not the target's: both keys are authorized on their servers.
    writeFileSync(
      join(lowLimit.dir, 'authorized_keys'),
      execFileSync('cat', [`${sshd.identityFile}.pub`, `${lowLimit.identityFile}.pub`]),
    );
    const viaJump = new SshTransport(
      { ...t.target, identityFile: sshd.identityFile },
      {
        prompter: declining,
        agentSocket: null,
        systemConfigFile: null,
        globalKnownHostsFiles: [],
        homeDir: sshd.dir,
      },
    );
    transports.push(viaJump);
    const r = await viaJump.run(['sh', '-c', 'echo $SSH_CONNECTION']);
    // Seen from the target, the connection comes from the jump host on loopback.
    expect(r.stdout).toMatch(
      new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${lowLimit.port}\\n$`),
    );
  });
});
