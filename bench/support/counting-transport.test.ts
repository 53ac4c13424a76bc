import { describe, expect, it } from 'vitest';
import type { Transport } from '../../packages/core/src/transport/types.js';
import { CountingTransport } from './counting-transport.js';

const fake: Transport = {
  kind: 'ssh',
  label: 'u@h',
  run: () => Promise.resolve({ code: 0, stdout: '', stderr: '' }),
  readFile: () => Promise.resolve(Buffer.from('')),
  writeFileAtomic: () => Promise.resolve(),
  mkdir: () => Promise.resolve(),
  exists: () => Promise.resolve(true),
  remove: () => Promise.resolve(),
  forward: () => Promise.reject(new Error('no forwards here')),
  close: () => Promise.resolve(),
};

describe('CountingTransport', () => {
  it('counts commands by program, files by operation, and forgets on reset', async () => {
    const t = new CountingTransport(fake);
    await t.run(['env', 'TZ=UTC', 'SLURM_TIME_FORMAT=%s', 'squeue', '--noheader']);
    await t.run(['squeue']);
    await t.run(['tail', '-n', '40', '--', '/x']);
    await t.readFile('/x/connection.json');
    await t.writeFileAtomic('/x/job.env', 'A=1\n', { mode: 0o600 });
    expect(t.snapshot()).toEqual({ 'sftp read': 1, 'sftp write': 1, squeue: 2, tail: 1 });
    expect(t.schedulerCommands()).toBe(2);
    expect(t.label).toBe('u@h');
    t.reset();
    expect(t.snapshot()).toEqual({});
    expect(t.schedulerCommands()).toBe(0);
  });
});
