/**
 * Login through the fake login node: key files (plain, encrypted, default), ssh-agent,
 * keyboard-interactive MFA and password through the prompter, and the failure message.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { AuthenticationError } from '../errors.js';
import {
  declining,
  generateUserKey,
  startFake,
  type FakeServerOptions,
} from './ssh-fake-server.testutil.js';
import type { KeyboardInteractivePrompt, SshTarget, SshTransportOptions } from './ssh-options.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

function setup(
  server: FakeServerOptions = {},
  target: Partial<SshTarget> = {},
  options: SshTransportOptions = {},
) {
  return startFake(cleanups, server, target, options);
}

describe('public keys', () => {
  it('rejects a wrong user key with a message naming user@host:port and what to do', async () => {
    const other = generateUserKey();
    const { transport, server, dir } = await setup({ authorizedKeys: [other.public] });
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    const e = err as AuthenticationError;
    expect(e.message).toContain(`tester@127.0.0.1:${server.port}`);
    expect(e.message).toContain(`publickey ${join(dir, 'id')}`);
    expect(e.message).toContain('The server accepts: publickey');
    expect(e.hint).toContain('authorized_keys');
    expect(e.hint).toContain('IdentityFile');
    expect(e.host).toBe('127.0.0.1');
  });

  it('asks for the passphrase of an encrypted key, retrying a wrong one', async () => {
    const key = generateUserKey('correct horse');
    const answers = ['wrong', 'correct horse'];
    const asked: string[] = [];
    const { transport, dir } = await setup(
      { authorizedKeys: [key.public] },
      {},
      {
        prompter: {
          ...declining,
          passphrase: (req) => {
            asked.push(req.keyFile);
            return Promise.resolve(answers.shift());
          },
        },
      },
    );
    writeFileSync(join(dir, 'id'), key.private);
    expect((await transport.run(['echo', 'in'])).stdout).toBe('in\n');
    expect(asked).toEqual([join(dir, 'id'), join(dir, 'id')]);
  });

  it('gives up after three wrong passphrases, and says so', async () => {
    const key = generateUserKey('right');
    let asked = 0;
    const { transport, dir } = await setup(
      { authorizedKeys: [key.public] },
      {},
      {
        prompter: {
          ...declining,
          passphrase: () => {
            asked++;
            return Promise.resolve('wrong');
          },
        },
      },
    );
    writeFileSync(join(dir, 'id'), key.private);
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain(`${join(dir, 'id')}: wrong passphrase (3 attempts)`);
    expect(asked).toBe(3);
  });

  it('reports a declined passphrase', async () => {
    const key = generateUserKey('pw');
    const { transport, dir } = await setup({ authorizedKeys: [key.public] });
    writeFileSync(join(dir, 'id'), key.private);
    await expect(transport.run(['true'])).rejects.toThrow(/passphrase declined/);
  });

  it('uses the default ~/.ssh/id_ed25519 when no IdentityFile is set', async () => {
    const key = generateUserKey();
    const { transport, dir } = await setup(
      { authorizedKeys: [key.public] },
      { identityFile: undefined },
    );
    mkdirSync(join(dir, '.ssh'), { recursive: true });
    writeFileSync(join(dir, '.ssh', 'id_ed25519'), key.private, { mode: 0o600 });
    expect((await transport.run(['echo', 'default'])).stdout).toBe('default\n');
  });

  const haveAgent = spawnSync('ssh-agent', ['-k'], { stdio: 'ignore' }).error === undefined;

  it.skipIf(!haveAgent)('logs in with a key held by ssh-agent', async () => {
    const key = generateUserKey();
    const { transport, dir } = await setup(
      { authorizedKeys: [key.public] },
      { identityFile: undefined },
      { agentSocket: undefined },
    );
    const sock = join(dir, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-s', '-a', sock]).toString();
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
    cleanups.push(() => {
      process.kill(pid, 'SIGTERM');
      return Promise.resolve();
    });
    writeFileSync(join(dir, 'agentkey'), key.private, { mode: 0o600 });
    execFileSync('ssh-add', [join(dir, 'agentkey')], {
      env: { ...process.env, SSH_AUTH_SOCK: sock },
      stdio: 'ignore',
    });
    const saved = process.env['SSH_AUTH_SOCK'];
    process.env['SSH_AUTH_SOCK'] = sock; // the default comes from the environment
    try {
      expect((await transport.run(['echo', 'agent'])).stdout).toBe('agent\n');
    } finally {
      if (saved === undefined) delete process.env['SSH_AUTH_SOCK'];
      else process.env['SSH_AUTH_SOCK'] = saved;
    }
  });
});

describe('interactive methods', () => {
  it('passes keyboard-interactive MFA prompts to the prompter after the key', async () => {
    const seen: KeyboardInteractivePrompt[] = [];
    const replies = [
      ['000000', 'x'],
      ['123456', 'second'],
    ];
    const { transport, server } = await setup(
      { twoFactor: true, kbdAnswers: ['123456', 'second'] },
      {},
      {
        prompter: {
          ...declining,
          keyboardInteractive: (req) => {
            seen.push(req);
            return Promise.resolve(replies.shift());
          },
        },
      },
    );
    expect((await transport.run(['echo', 'mfa'])).stdout).toBe('mfa\n');
    expect(seen).toHaveLength(2); // a mistyped code gets another chance
    expect(seen[0]).toEqual({
      host: '127.0.0.1',
      user: 'tester',
      name: 'Two-factor login',
      instructions: 'Enter the codes',
      prompts: [
        { prompt: 'Code 1: ', echo: false },
        { prompt: 'Code 2: ', echo: true },
      ],
    });
    expect(server.authAttempts.filter((m) => m === 'publickey').length).toBeGreaterThan(0);
    // One connection, so a second command needs no second code.
    await transport.run(['true']);
    expect(seen).toHaveLength(2);
  });

  it('asks for a password when the server allows nothing else', async () => {
    const asked: unknown[] = [];
    const { transport } = await setup(
      { authorizedKeys: [], password: 's3cret' },
      {},
      {
        prompter: {
          ...declining,
          password: (req) => {
            asked.push(req);
            return Promise.resolve('s3cret');
          },
        },
      },
    );
    expect((await transport.run(['echo', 'pw'])).stdout).toBe('pw\n');
    expect(asked).toEqual([{ host: '127.0.0.1', user: 'tester' }]);
  });

  it('stops asking once the user declines and lists what was tried', async () => {
    let asked = 0;
    const { transport } = await setup(
      { authorizedKeys: [], password: 'x', kbdAnswers: ['y'] },
      {},
      {
        prompter: {
          ...declining,
          password: () => {
            asked++;
            return Promise.resolve(undefined);
          },
        },
      },
    );
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain('tried: keyboard-interactive');
    expect((err as Error).message).toContain('password: declined');
    expect(asked).toBe(1);
  });
});
