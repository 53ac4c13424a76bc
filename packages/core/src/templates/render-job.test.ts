import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { insertDirectives, renderSlurmDirectives } from '../schedulers/slurm-directives.js';
import type { SiteInfo } from '../schedulers/types.js';
import {
  BUILTIN_TEMPLATES_DIR,
  loadTemplates,
  renderJob,
  validateParams,
  type RenderContext,
  type Template,
} from './index.js';

// Set HPCJ_RECORD=1 to rewrite the recorded files after a deliberate change, then review the diff.
const RECORD = process.env['HPCJ_RECORD'] === '1';
const RECORDED = new URL('./__recorded__/', import.meta.url);
const site = JSON.parse(
  readFileSync(new URL('./__fixtures__/site-info.json', import.meta.url), 'utf8'),
) as SiteInfo;

const context: RenderContext = {
  sessionId: 'rec-0001',
  sessionDir: '/home/alice/.local/share/hpc-jupyter/sessions/rec-0001/',
  scheduler: 'slurm',
  python: '/opt/hpc-jupyter/venv/bin/python',
  prologue: 'module load python/3.11\nsource "$HOME/envs/lab/bin/activate"\n',
};

const values = {
  partition: 'gpu',
  account: 'chem101',
  nodes: '2',
  hours: '1.5',
  memoryGiB: '16',
  gpusPerNode: '1',
  email: 'alice@example.org',
  workingDirectory: 'projects/thesis',
};

let templates: Map<string, Template>;
let tmp: string;
beforeAll(async () => {
  templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hpcj-render-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function template(name: string): Template {
  const found = templates.get(name);
  if (found === undefined) throw new Error(`no template ${name}`);
  return found;
}

function compareRecorded(file: string, actual: string): void {
  const url = new URL(file, RECORDED);
  if (RECORD) writeFileSync(url, actual);
  expect(actual, `${file} differs from the recording (HPCJ_RECORD=1 to update)`).toBe(
    readFileSync(url, 'utf8'),
  );
}

describe.each(['jupyter', 'kernel', 'spark-kernel'])('renderJob(%s)', (name) => {
  it('matches the recorded sbatch script, resources and env file', () => {
    const t = template(name);
    const job = renderJob(t, validateParams(t, values, site), context);
    const sbatch = insertDirectives(job.script, renderSlurmDirectives(job.resources));
    compareRecorded(`${name}.sbatch`, sbatch);
    compareRecorded(`${name}.env`, job.envFile);
    compareRecorded(`${name}.resources.json`, `${JSON.stringify(job.resources, null, 2)}\n`);
  });

  it('maps parameters onto the resource request', () => {
    const t = template(name);
    const job = renderJob(t, validateParams(t, values, site), context);
    expect(job.resources).toEqual({
      name: 'hpcj-rec-0001',
      nodes: 2,
      tasksPerNode: 1,
      cpusPerTask: 2,
      memoryMiB: 16 * 1024,
      gpusPerNode: 1,
      walltimeMinutes: 90,
      partition: 'gpu',
      account: 'chem101',
      mailOnStart: 'alice@example.org',
      workdir: '/home/alice/.local/share/hpc-jupyter/sessions/rec-0001',
      output: '/home/alice/.local/share/hpc-jupyter/sessions/rec-0001/job.log',
    });
  });

  it('never puts a parameter value into the script', () => {
    const t = template(name);
    const hostile = {
      partition: 'zzpartq',
      account: 'zzacctq',
      qos: 'zzqosq',
      nodes: 7,
      hours: 3.25,
      email: 'zzmail@example.org',
      workingDirectory: "zz'; touch /tmp/hpcj-pwned #\n$(id) `id`",
    };
    const a = renderJob(t, validateParams(t, hostile), context);
    const b = renderJob(t, validateParams(t, {}), context);
    // The script depends on the template and prologue only, never on the values.
    expect(a.script).toBe(b.script);
    for (const value of Object.values(hostile)) {
      if (typeof value === 'string') expect(a.script).not.toContain(value);
    }
    expect(a.script).not.toContain('zz');
    expect(a.envFile).toContain('HPCJ_PARAM_WORKING_DIRECTORY=');
  });

  it('is valid bash with runtime, session start, prologue and body in that order', () => {
    const t = template(name);
    const { script } = renderJob(t, validateParams(t, {}), context);
    expect(script.startsWith('#!/bin/bash -l\n')).toBe(true);
    const bodies = t.compose?.bodies.map((b) => b.body) ?? [t.body];
    const order = ['hpcj_log() {', '\nhpcj_session_start\n', 'module load python/3.11', ...bodies];
    const positions = order.map((s) => script.indexOf(s));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    const file = path.join(tmp, `${name}.sh`);
    writeFileSync(file, script);
    execFileSync('bash', ['-n', file]);
    const shellcheck = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', file], {
      encoding: 'utf8',
    });
    if (shellcheck.error === undefined) expect(shellcheck.stdout).toBe('');
  });
});

describe('a composed template (spark-kernel: compose [spark, kernel])', () => {
  it("runs the engine's body, then the kernel's, and names the engine in the env file", () => {
    const t = template('spark-kernel');
    expect(t.kind).toBe('kernel');
    const job = renderJob(t, validateParams(t, { workersPerNode: 2 }), context);
    const spark = job.script.indexOf('# ---- body (templates/spark/body.sh, part of spark-kernel)');
    const kernel = job.script.indexOf(
      '# ---- body (templates/kernel/body.sh, part of spark-kernel)',
    );
    expect(spark).toBeGreaterThan(job.script.indexOf('\nhpcj_session_start\n'));
    expect(kernel).toBeGreaterThan(spark);
    expect(job.script.indexOf(template('spark').body)).toBeGreaterThan(spark);
    expect(job.script.indexOf(template('kernel').body)).toBeGreaterThan(kernel);
    expect(job.envFile).toContain('export HPCJ_TEMPLATE=spark-kernel\n');
    expect(job.envFile).toContain('export HPCJ_ENGINE=spark\n');
    // Parameters of both: the engine's own, and the kernel's.
    expect(job.envFile).toContain('export HPCJ_PARAM_WORKERS_PER_NODE=2\n');
    expect(job.envFile).toContain("export HPCJ_PARAM_WORKING_DIRECTORY=''\n");
    expect(renderJob(template('kernel'), {}, context).envFile).not.toContain('HPCJ_ENGINE');
  });
});

describe('the env file', () => {
  const hostile = [
    "it's",
    '; rm -rf ~',
    '$(touch /tmp/hpcj-pwned)',
    '`id`',
    'line one\nline two\n',
    '"double" \\ back\\slash $HOME ${HOME} !! *',
    'ünïcødé ✓',
    '-n',
    '',
  ];

  it.each(hostile)('round-trips %j through bash unchanged', (value) => {
    const t = template('jupyter');
    const job = renderJob(t, validateParams(t, { workingDirectory: value }), context);
    const file = path.join(tmp, 'job.env');
    writeFileSync(file, job.envFile, { mode: 0o600 });
    const out = execFileSync(
      'bash',
      ['-c', '. "$1" && printf %s "$HPCJ_PARAM_WORKING_DIRECTORY"', 'bash', file],
      { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nowhere' } },
    );
    expect(out).toBe(value);
  });

  it('carries the session, the python and the unmapped parameters only', () => {
    const t = template('kernel');
    const job = renderJob(t, validateParams(t, values, site), { ...context, scheduler: 'local' });
    const names = job.envFile
      .split('\n')
      .filter((l) => l.startsWith('export '))
      .map((l) => l.slice('export '.length, l.indexOf('=')));
    expect(names).toEqual([
      'HPC_JUPYTER_SCHEDULER',
      'HPCJ_SESSION_ID',
      'HPCJ_SESSION_DIR',
      'HPCJ_TEMPLATE',
      'HPCJ_PYTHON',
      'HPCJ_NODE_COUNT',
      'HPCJ_TASKS_PER_NODE',
      'HPCJ_PARAM_WORKING_DIRECTORY',
    ]);
    expect(job.envFile).toContain('export HPC_JUPYTER_SCHEDULER=local\n');
  });
});

describe('renderJob input checks', () => {
  it('refuses a bad session id, session dir or python', () => {
    const t = template('jupyter');
    const params = validateParams(t, {});
    for (const bad of [
      { sessionId: '../x' },
      { sessionId: 'a b' },
      { sessionId: '' },
      { sessionDir: 'relative/dir' },
      { sessionDir: '/tmp/x\ny' },
      { python: '' },
      { python: 'python3\nrm -rf ~' },
    ]) {
      expect(() => renderJob(t, params, { ...context, ...bad }), JSON.stringify(bad)).toThrow(
        InvalidInputError,
      );
    }
  });

  it('re-validates values it is given', () => {
    const t = template('jupyter');
    expect(() => renderJob(t, { nodes: 'abc' }, context)).toThrow(/nodes must be a whole number/);
  });

  it('uses a given job name and omits unset resources', () => {
    const t = template('jupyter');
    const job = renderJob(t, validateParams(t, {}), { ...context, jobName: 'hpcj-jupyter-7' });
    expect(job.resources).toEqual({
      name: 'hpcj-jupyter-7',
      nodes: 1,
      tasksPerNode: 1,
      cpusPerTask: 2,
      gpusPerNode: 0,
      walltimeMinutes: 60,
      workdir: '/home/alice/.local/share/hpc-jupyter/sessions/rec-0001',
      output: '/home/alice/.local/share/hpc-jupyter/sessions/rec-0001/job.log',
    });
  });
});
