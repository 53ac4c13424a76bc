/**
 * The `hpc-jupyter` command as a user runs it, against the test cluster: site info, a 4-node
 * batch job, and bad input that must give a clear error and submit nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterScript, REPO_ROOT, testCluster, type TestCluster } from './support.js';

const CLI = join(REPO_ROOT, 'packages', 'core', 'dist', 'cli', 'main.js');
let cluster: TestCluster;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The newest job id of the test user the controller knows (0 for none): new jobs raise it. */
async function newestJobId(): Promise<number> {
  const out = await clusterScript(
    'slurm',
    'squeue',
    '--noheader',
    '--states=all',
    `--user=${cluster.env.HPCJ_TEST_USER ?? ''}`,
    '--format=%i',
  );
  return Math.max(
    0,
    ...out
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map(Number),
  );
}

beforeAll(async () => {
  cluster = await testCluster();
});

describe('hpc-jupyter CLI on the test cluster', () => {
  it('shows the partitions and accounts the user may use', async () => {
    const result = await cli(['site', 'testlab']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/debug \(default\)\s+up\s+4/);
    expect(result.stdout).toContain('research (default), teaching');
  });

  it('runs a 4-node job and prints its output', async () => {
    const result = await cli([
      'run',
      '--cluster',
      'testlab',
      '--nodes',
      '4',
      '--',
      'srun',
      'hostname',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n').sort()).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(result.stderr).toMatch(/Submitted job \d+ on testlab/);
    expect(result.stderr).toMatch(/completed/);
  });

  it('exits 4 with the job output when the job fails', async () => {
    const result = await cli([
      'run',
      '--cluster',
      'testlab',
      '--',
      'sh',
      '-c',
      'echo oops; exit 3',
    ]);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('oops\n');
    expect(result.stderr).toMatch(/failed.*exit code 3/);
  });

  it('rejects a partition or account with shell metacharacters and submits nothing', async () => {
    const before = await newestJobId();
    for (const [flag, value] of [
      ['--partition', 'debug;touch /tmp/hpcj-pwned'],
      ['--partition', 'debug\nshort'],
      ['--account', 'research$(id)'],
    ] as const) {
      const result = await cli(['run', '--cluster', 'testlab', flag, value, '--', 'true']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(flag === '--account' ? /account/ : /partition/);
      expect(result.stderr).toMatch(/may only contain/);
    }
    expect(await newestJobId()).toBe(before);
  });

  it('lists a malformed file and an unknown scheduler as problems; the good cluster still works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-config-'));
    writeFileSync(join(dir, '10-good.yaml'), readFileSync(cluster.configFile));
    writeFileSync(
      join(dir, '20-broken.yaml'),
      'clusters:\n  broken:\n    scheduler: slurm\n   ssh: [oops\n',
    );
    writeFileSync(
      join(dir, '30-kind.yaml'),
      'clusters:\n  typo:\n    scheduler: slrum\n  badpart:\n    scheduler: slurm\n    defaults:\n      partition: "debug\\nrm"\n',
    );
    const env = { HPC_JUPYTER_CONFIG: dir };
    const listed = await cli(['clusters'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^testlab\s+slurm/m);
    expect(listed.stderr).toContain('20-broken.yaml:4');
    expect(listed.stderr).toMatch(
      /30-kind\.yaml:3: clusters\.typo\.scheduler must be one of .*slurm/,
    );
    expect(listed.stderr).toMatch(/30-kind\.yaml:7: clusters\.badpart\.defaults\.partition/);

    const before = await newestJobId();
    const typo = await cli(['run', '--cluster', 'typo', '--', 'true'], env);
    expect(typo.code).toBe(3);
    expect(typo.stderr).toContain('scheduler');
    expect(await newestJobId()).toBe(before);
    const good = await cli(['run', '--cluster', 'testlab', '--', 'echo', 'still works'], env);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toBe('still works\n');
    expect(await newestJobId()).toBeGreaterThan(before);
  });

  it('doctor checks SSH, the scheduler, the work directory and Jupyter on the cluster', async () => {
    const result = await cli(['doctor', '--cluster', 'testlab']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /ok\s+reach hpcjtest@127\.0\.0\.1 \(host key verified, logged in as hpcjtest\)/,
    );
    expect(result.stdout).toMatch(/ok\s+slurm commands/);
    expect(result.stdout).toMatch(/ok\s+work directory .*\.hpc-jupyter is writable/);
    expect(result.stdout).toMatch(
      /ok\s+Python 3\.\d+\.\d+ with jupyter-server [\d.]+ and ipykernel [\d.]+/,
    );
  });

  it('doctor says what to fix when the host key is unknown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-config-'));
    const config = readFileSync(cluster.configFile, 'utf8').replaceAll(
      cluster.env.HPCJ_KNOWN_HOSTS ?? '',
      join(dir, 'empty_known_hosts'),
    );
    writeFileSync(join(dir, 'clusters.yaml'), config);
    const result = await cli(['doctor', '--cluster', 'testlab'], {
      HPC_JUPYTER_CONFIG: join(dir, 'clusters.yaml'),
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL\s+reach hpcjtest@127\.0\.0\.1/);
    expect(result.stdout).toMatch(/SHA256:/);
  });
});
