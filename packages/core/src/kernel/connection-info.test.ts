// Reading the connection file Jupyter hands a kernel, the launcher's arguments, and the state a
// launcher leaves for its restarted self.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnectionFileError, endpointOf, parseConnectionInfo } from './connection-info.js';
import { KernelStateFile } from './kernel-state.js';
import { KernelUsageError, parseKernelArgs } from './kernel-main.js';

const FILE = {
  ip: '127.0.0.1',
  transport: 'tcp',
  key: 'k',
  signature_scheme: 'hmac-sha256',
  shell_port: 1,
  iopub_port: 2,
  stdin_port: 3,
  control_port: 4,
  hb_port: 5,
  kernel_name: 'hpcj-x',
};

describe('connection files', () => {
  it('give the ports, the key and where to bind', () => {
    const info = parseConnectionInfo(JSON.stringify(FILE));
    expect(info).toMatchObject({ ip: '127.0.0.1', key: 'k', kernelName: 'hpcj-x' });
    expect(endpointOf(info, 'iopub')).toBe('tcp://127.0.0.1:2');
    expect(endpointOf({ ...info, ip: '::1' }, 'hb')).toBe('tcp://[::1]:5');
    expect(endpointOf({ ...info, transport: 'ipc', ip: '/tmp/k' }, 'shell')).toBe('ipc:///tmp/k-1');
  });

  it('are refused when they are not what Jupyter writes', () => {
    expect(() => parseConnectionInfo('{')).toThrow(ConnectionFileError);
    expect(() => parseConnectionInfo(JSON.stringify({ ...FILE, shell_port: 0 }))).toThrow(
      /shell_port/,
    );
    expect(() => parseConnectionInfo(JSON.stringify({ ...FILE, transport: 'udp' }))).toThrow(
      /transport/,
    );
  });
});

describe('the launcher arguments', () => {
  it('are the profile and the connection file', () => {
    expect(parseKernelArgs(['kernel', '--profile', 'p', '-f', '/x.json'])).toEqual({
      profile: 'p',
      connectionFile: '/x.json',
    });
    expect(parseKernelArgs(['--profile=p', '--connection-file', 'c.json'])).toEqual({
      profile: 'p',
      connectionFile: 'c.json',
    });
    expect(() => parseKernelArgs(['kernel', '-f', 'x'])).toThrow(KernelUsageError);
    expect(() => parseKernelArgs(['kernel', '--profile', 'p'])).toThrow(/-f CONNECTION_FILE/);
  });
});

describe('the state a launcher leaves', () => {
  it('is private, found again by connection file and key only, and removable', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hpcj-kstate-'));
    try {
      const state = new KernelStateFile(path.join(dir, 'kernels'), '/run/kernel-1.json', 'key');
      expect(await state.read()).toBeUndefined();
      await state.write({ sessionId: 's0123456789ab', profile: 'p', remoteSession: 'r' });
      expect(statSync(state.file).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(state.file)).mode & 0o777).toBe(0o700);
      expect(path.basename(state.file)).not.toContain('key');
      expect(
        await new KernelStateFile(path.join(dir, 'kernels'), '/run/kernel-1.json', 'key').read(),
      ).toEqual({ sessionId: 's0123456789ab', profile: 'p', remoteSession: 'r' });
      expect(
        await new KernelStateFile(path.join(dir, 'kernels'), '/run/kernel-1.json', 'other').read(),
      ).toBeUndefined();
      await state.prune(Date.now() + 8 * 24 * 3600_000);
      expect(await state.read()).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
