/**
 * Test support (not shipped code): an in-process ssh2 server on 127.0.0.1 acting as a fake login
 * node. It checks user keys, passwords and keyboard-interactive answers, really runs exec
 * requests with `/bin/sh -c` (so quoting is proven end to end), relays `direct-tcpip` (so it can
 * be a jump host), and counts connections and sessions. Sockets go through our own listener so a
 * test can cut them abruptly.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import ssh2 from 'ssh2';
import type { AuthContext, Connection, ParsedKey } from 'ssh2';

import type { SshPrompter, SshTarget, SshTransportOptions } from './ssh-options.js';
import { SshTransport } from './ssh.js';

const { Server, utils } = ssh2;

/** A command the fake answers without a process, all in one burst (see onClient). */
export const INSTANT_COMMAND = 'hpcj-instant-exit';

export interface FakeServerOptions {
  /** Public keys (OpenSSH one-line form) allowed to log in. */
  readonly authorizedKeys?: readonly string[];
  readonly password?: string;
  /** Answers expected, in order, to the keyboard-interactive prompts. */
  readonly kbdAnswers?: readonly string[];
  /** Require a key first and then keyboard-interactive (partial success), like MFA sites. */
  readonly twoFactor?: boolean;
  /** Refuse session channels beyond this many at once per connection (sshd MaxSessions). */
  readonly maxSessions?: number;
  readonly user?: string;
}

/**
 * An ed25519 key pair from ssh2's keygen. About one in 250 of those has a public key with a
 * dropped leading zero byte that ssh2 itself then cannot parse, so retry until it parses.
 */
export function generateUserKey(passphrase?: string): { private: string; public: string } {
  for (;;) {
    const pair =
      passphrase === undefined
        ? utils.generateKeyPairSync('ed25519')
        : utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-ctr', rounds: 4 });
    const parsed = utils.parseKey(pair.private, passphrase);
    const pub = utils.parseKey(pair.public);
    if (!(parsed instanceof Error) && !(pub instanceof Error)) return pair;
  }
}

export class FakeLoginNode {
  readonly hostKey = generateUserKey();
  /** TCP connections accepted so far. */
  connections = 0;
  /** The most session channels open at once on any single connection. */
  peakSessions = 0;
  readonly commands: string[] = [];
  readonly signals: string[] = [];
  readonly authAttempts: string[] = [];
  private readonly sockets = new Set<Socket>();
  /** Process groups of commands still running, killed on stop(). */
  private readonly groups = new Set<number>();
  private readonly ssh: InstanceType<typeof Server>;
  private readonly authorized: ParsedKey[];
  private listener: NetServer | undefined;
  port = 0;

  constructor(private readonly options: FakeServerOptions = {}) {
    this.authorized = (options.authorizedKeys ?? []).map((k) => {
      const parsed = utils.parseKey(k);
      if (parsed instanceof Error) throw parsed;
      return parsed;
    });
    this.ssh = new Server({ hostKeys: [this.hostKey.private] }, (client) => {
      this.onClient(client);
    });
  }

  /** The host key blob, as known_hosts stores it (base64 of this). */
  get hostKeyLine(): string {
    return this.hostKey.public.split(' ').slice(0, 2).join(' ');
  }

  async start(): Promise<this> {
    const listener = createServer((socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.ssh.injectSocket(socket);
    });
    this.listener = listener;
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this;
  }

  /** Destroys every server-side socket, as a crashed node or a cut network would. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    this.dropAll();
    for (const group of this.groups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise<void>((resolve) => {
      if (this.listener === undefined) resolve();
      else
        this.listener.close(() => {
          resolve();
        });
    });
  }

  private onClient(client: Connection): void {
    let keyOk = false;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      this.authAttempts.push(ctx.method);
      this.authenticate(ctx, keyOk, () => (keyOk = true));
    });
    let open = 0;
    client.on('ready', () => {
      client.on('session', (accept, reject) => {
        if (this.options.maxSessions !== undefined && open >= this.options.maxSessions) {
          reject();
          return;
        }
        open++;
        this.peakSessions = Math.max(this.peakSessions, open);
        const session = accept();
        session.on('close', () => open--);
        session.on('exec', (acceptExec, _rejectExec, info) => {
          this.commands.push(info.command);
          const instant = info.command === INSTANT_COMMAND;
          const sock = (client as unknown as { _sock?: Socket })._sock;
          if (instant) sock?.cork();
          const stream = acceptExec();
          if (instant) {
            // Reply, output, exit status and close in one TCP burst, as relays and busy links
            // deliver them: a client that attaches its listeners a tick late loses the status.
            // (The server's socket is private in ssh2; test code may reach for it.)
            stream.write('instant\n');
            stream.exit(7);
            stream.end();
            process.nextTick(() => sock?.uncork());
            return;
          }
          // Its own process group, so that killing it also kills what `sh -c` started.
          const child = spawn('/bin/sh', ['-c', info.command], { stdio: 'pipe', detached: true });
          const group = child.pid;
          const kill = (sig: NodeJS.Signals): void => {
            if (group === undefined || child.exitCode !== null || child.signalCode !== null) return;
            try {
              process.kill(-group, sig);
            } catch {
              // already gone
            }
          };
          if (group !== undefined) this.groups.add(group);
          child.on('exit', () => {
            if (group !== undefined) this.groups.delete(group);
          });
          session.on('signal', (_a, _r, sig) => {
            this.signals.push(sig.name);
            kill(`SIG${sig.name}` as NodeJS.Signals);
          });
          stream.pipe(child.stdin);
          child.stdin.on('error', () => undefined);
          child.stdout.pipe(stream, { end: false });
          child.stderr.pipe(stream.stderr, { end: false });
          child.on('close', (code, signal) => {
            if (code !== null) stream.exit(code);
            else stream.exit(signal?.replace(/^SIG/, '') ?? 'KILL');
            stream.end();
          });
          stream.on('close', () => {
            kill('SIGKILL');
          });
        });
      });
      client.on('tcpip', (accept, reject, info) => {
        const upstream = connect(info.destPort, info.destIP);
        upstream.once('connect', () => {
          const channel = accept();
          channel.pipe(upstream).pipe(channel);
          channel.on('close', () => upstream.destroy());
          upstream.on('close', () => {
            channel.close();
          });
        });
        upstream.once('error', () => {
          reject();
        });
      });
    });
  }

  private authenticate(ctx: AuthContext, keyOk: boolean, markKey: () => void): void {
    const o = this.options;
    if (o.user !== undefined && ctx.username !== o.user) {
      ctx.reject();
      return;
    }
    const methods: ('publickey' | 'password' | 'keyboard-interactive')[] = [];
    if (this.authorized.length > 0 && !keyOk) methods.push('publickey');
    if (o.kbdAnswers !== undefined) methods.push('keyboard-interactive');
    if (o.password !== undefined && o.twoFactor !== true) methods.push('password');
    const finish = (ok: boolean): void => {
      if (!ok) ctx.reject(methods);
      else if (o.twoFactor === true && !keyOk) {
        markKey();
        ctx.reject(['keyboard-interactive'], true);
      } else ctx.accept();
    };
    switch (ctx.method) {
      case 'publickey': {
        const key = this.authorized.find((k) => k.getPublicSSH().equals(ctx.key.data));
        if (key === undefined || keyOk) {
          ctx.reject(methods);
          return;
        }
        if (ctx.signature === undefined) {
          ctx.accept(); // "this key would do": the client then signs
          return;
        }
        finish(key.verify(ctx.blob ?? Buffer.alloc(0), ctx.signature, ctx.hashAlgo));
        return;
      }
      case 'password':
        if (o.twoFactor === true) ctx.reject(methods);
        else finish(o.password !== undefined && ctx.password === o.password);
        return;
      case 'keyboard-interactive': {
        const expected = o.kbdAnswers;
        if (expected === undefined || (o.twoFactor === true && !keyOk)) {
          ctx.reject(methods);
          return;
        }
        const prompts = expected.map((_, i) => ({ prompt: `Code ${i + 1}: `, echo: i > 0 }));
        ctx.prompt(prompts, 'Two-factor login', 'Enter the codes', (answers) => {
          const ok =
            answers.length === expected.length && answers.every((a, i) => a === expected[i]);
          if (!ok) ctx.reject(methods);
          else ctx.accept();
        });
        return;
      }
      default:
        ctx.reject(methods);
    }
  }
}

/** Declines every prompt. */
export const declining: SshPrompter = {
  password: () => Promise.resolve(undefined),
  keyboardInteractive: () => Promise.resolve(undefined),
  passphrase: () => Promise.resolve(undefined),
  unknownHostKey: () => Promise.resolve(false),
};

export interface FakeSetup {
  readonly server: FakeLoginNode;
  readonly transport: SshTransport;
  readonly dir: string;
  /** The user key's public line. */
  readonly publicKey: string;
}

/** A fake node with a user key and a known_hosts entry, and a transport to it. */
export async function startFake(
  cleanups: (() => Promise<void>)[],
  serverOptions: FakeServerOptions = {},
  target: Partial<SshTarget> = {},
  options: SshTransportOptions = {},
): Promise<FakeSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'hpcj-ssh-test-'));
  const key = generateUserKey();
  writeFileSync(join(dir, 'id'), key.private, { mode: 0o600 });
  const server = await new FakeLoginNode({
    authorizedKeys: [key.public],
    ...serverOptions,
  }).start();
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${server.port} ${server.hostKeyLine}\n`);
  const transport = new SshTransport(
    {
      host: '127.0.0.1',
      port: server.port,
      user: 'tester',
      identityFile: join(dir, 'id'),
      knownHostsFile: join(dir, 'known_hosts'),
      configFile: null,
      ...target,
    },
    {
      prompter: declining,
      agentSocket: null,
      systemConfigFile: null,
      globalKnownHostsFiles: [],
      homeDir: dir,
      ...options,
    },
  );
  cleanups.push(async () => {
    await transport.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, transport, dir, publicKey: key.public };
}
