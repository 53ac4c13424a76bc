import { describe, expect, it } from 'vitest';

import type { LoadedCluster, LoadedConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import { HtcondorScheduler } from '../schedulers/htcondor/adapter.js';
import { LsfScheduler } from '../schedulers/lsf/adapter.js';
import { PbsScheduler } from '../schedulers/pbs/adapter.js';
import type { SshPrompter } from '../transport/ssh-options.js';
import { ClusterConnections } from './connections.js';

/** Clusters without ssh run commands on this machine; nothing connects until a command runs. */
function connections(clusters: Omit<LoadedCluster, 'source'>[]): ClusterConnections {
  const config: LoadedConfig = {
    clusters: new Map(clusters.map((c) => [c.name, { ...c, source: 'test.yaml' }])),
    profiles: new Map(),
    problems: [],
    sources: ['test.yaml'],
  };
  const refuse = (): Promise<undefined> => Promise.resolve(undefined);
  const prompter: SshPrompter = {
    password: refuse,
    keyboardInteractive: refuse,
    passphrase: refuse,
    unknownHostKey: () => Promise.resolve(false),
  };
  return new ClusterConnections(config, { prompter });
}

describe('ClusterConnections schedulers', () => {
  it('creates the PBS, LSF and HTCondor adapters instead of failing at run time', async () => {
    const open = connections([
      { name: 'pro', scheduler: 'pbs' },
      { name: 'tq', scheduler: 'pbs', pbsFlavor: 'torque' },
      { name: 'lsf', scheduler: 'lsf' },
      { name: 'condor', scheduler: 'htcondor' },
    ]);
    const flavor = (name: string): string | undefined => {
      const scheduler = open.get(name).scheduler;
      return scheduler instanceof PbsScheduler ? scheduler.flavor : undefined;
    };
    expect(flavor('pro')).toBe('pbspro');
    expect(flavor('tq')).toBe('torque');
    expect(open.get('lsf').scheduler).toBeInstanceOf(LsfScheduler);
    expect(open.get('condor').scheduler).toBeInstanceOf(HtcondorScheduler);
    await open.close();
  });

  it('refuses pbsFlavor on a cluster that does not run PBS', () => {
    expect(() =>
      connections([{ name: 'x', scheduler: 'slurm', pbsFlavor: 'torque' }]).get('x'),
    ).toThrow(InvalidInputError);
  });
});
