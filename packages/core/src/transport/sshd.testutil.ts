/**
 * Test support (not shipped code): a throwaway OpenSSH sshd on 127.0.0.1 with its own host key,
 * authorized_keys and config in a temp dir, for what only the real server proves (SFTP with
 * posix-rename and umask, direct-tcpip, signals, MaxSessions). As root without /run/sshd (the
 * privilege-separation directory) it runs in a private mount namespace with a tmpfs /run, so
 * nothing outside the temp dir changes. Only the sshd started here is ever killed.
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd';

export interface SshdOptions {
  readonly maxSessions?: number;
  /** The SFTP server's umask, to prove modes are set explicitly. */
  readonly sftpUmask?: string;
}

export interface RunningSshd {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly pid: number;
  /** Everything sshd logged so far (LogLevel DEBUG1), for assertions and failure messages. */
  log(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

/** Why sshd cannot run here, or undefined if it may. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} not installed`;
  const root = process.getuid?.() === 0;
  if (root && !existsSync('/run/sshd')) {
    try {
      execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
    } catch {
      return 'no /run/sshd and no mount namespace (unshare -m) to provide one';
    }
  }
  return undefined;
}

export async function startSshd(options: SshdOptions = {}): Promise<RunningSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'hpcj-sshd-'));
  const port = await freePort();
  const keygen = (file: string): void => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
  };
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'id'));
  execFileSync('cp', [join(dir, 'id.pub'), join(dir, 'authorized_keys')]);
  const hostPub = execFileSync('cat', [join(dir, 'host_key.pub')])
    .toString()
    .split(' ');
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostPub[0] ?? ''} ${hostPub[1] ?? ''}\n`);
  const umask = options.sftpUmask === undefined ? '' : ` -u ${options.sftpUmask}`;
  const config = [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    `MaxSessions ${options.maxSessions ?? 10}`,
    `Subsystem sftp internal-sftp${umask}`,
    'LogLevel DEBUG1',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), config);
  const args = ['-D', '-e', '-f', join(dir, 'sshd_config')];
  const root = process.getuid?.() === 0;
  const child: ChildProcess =
    root && !existsSync('/run/sshd')
      ? spawn(
          'unshare',
          [
            '-m',
            'sh',
            '-c',
            'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec "$0" "$@"',
            SSHD,
            ...args,
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        )
      : spawn(SSHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`sshd did not start: ${log}`));
    }, 10_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Server listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${String(code)}: ${log}`));
    });
  });
  const pid = child.pid ?? 0;
  return {
    port,
    dir,
    user: userInfo().username,
    identityFile: join(dir, 'id'),
    knownHostsFile,
    pid,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
