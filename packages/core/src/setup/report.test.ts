/**
 * The setup report on probe output recorded on the 4-node test cluster's login node (as
 * hpcjtest): the full job environment (/opt/hpc-jupyter/venv), a bare venv, and Debian's own
 * Python; plus an old site's Python edited from the last (3.8, Java 11, a foreign workdir, an
 * older job package).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProbeOutput, probeArgv, withPrologue, type ProbeResult } from './probe.js';
import { buildReport, formatReport, TEMPLATE_NEEDS } from './report.js';

const RECORDED = new URL('./__recorded__/', import.meta.url);

function recorded(name: string): ProbeResult {
  const result = parseProbeOutput(readFileSync(new URL(`probe-${name}.txt`, RECORDED), 'utf8'));
  if (result === undefined) throw new Error(`no probe line in probe-${name}.txt`);
  return result;
}

describe('parseProbeOutput', () => {
  it('takes the last marker line, after whatever a login shell printed', () => {
    const line = readFileSync(new URL('probe-bare.txt', RECORDED), 'utf8');
    const parsed = parseProbeOutput(`Welcome to the cluster!\nHPCJ-SETUP-PROBE {"x": 1}\n${line}`);
    expect(parsed?.python.version).toBe('3.11.2');
  });

  it('is undefined without a marker line', () => {
    expect(parseProbeOutput('Python 2.7.18\n')).toBeUndefined();
  });
});

describe('buildReport', () => {
  it('finds everything in the full environment, every template usable', () => {
    const report = buildReport(
      'testlab',
      '/opt/hpc-jupyter/venv/bin/python',
      recorded('full'),
      '0.1.0',
    );
    expect(report.ok).toBe(true);
    expect(report.requirements.filter((r) => !r.ok)).toEqual([]);
    expect(report.templates.map((t) => t.template)).toEqual(TEMPLATE_NEEDS.map((t) => t.template));
    expect(report.templates.every((t) => t.usable && t.limited.length === 0)).toBe(true);
    const java = report.requirements.find((r) => r.id === 'java');
    expect(java?.found).toBe('17.0.15 (/usr/bin/java)');
    const mpi = report.requirements.find((r) => r.id === 'mpi4py');
    expect(mpi?.found).toMatch(/^4\.\d+\.\d+ \(\/opt\/hpc-jupyter\/venv\/bin\/mpiexec\)$/);
  });

  it('a job package of another version is missing, and so is every template', () => {
    const report = buildReport('testlab', 'py', recorded('full'), '0.2.0');
    const job = report.requirements.find((r) => r.id === 'hpc_jupyter');
    expect(job).toMatchObject({
      ok: false,
      found: '0.1.0',
      want: "0.2.0 (this hpc-jupyter's version)",
    });
    expect(report.templates.filter((t) => t.usable)).toEqual([]);
  });

  it('a bare venv: only Python, Java and the workdir are there', () => {
    const report = buildReport('testlab', 'bare/bin/python', recorded('bare'), '0.1.0');
    expect(report.requirements.filter((r) => r.ok).map((r) => r.id)).toEqual([
      'python',
      'java',
      'workdir',
    ]);
    const kernel = report.templates.find((t) => t.template === 'spark-kernel');
    expect(kernel).toMatchObject({
      usable: false,
      missing: ['hpc_jupyter', 'pyspark', 'ipykernel', 'cryptography'],
    });
  });

  it("Debian's Python: its own cryptography counts, the job package does not", () => {
    const report = buildReport('testlab', '/usr/bin/python3', recorded('system'), '0.1.0');
    expect(report.requirements.find((r) => r.id === 'cryptography')).toMatchObject({ ok: true });
    expect(report.templates.find((t) => t.template === 'kernel')?.missing).toEqual([
      'hpc_jupyter',
      'ipykernel',
    ]);
  });

  it("an old site's Python: too old, Java 11, a workdir others may write into", () => {
    const system = recorded('system');
    const old: ProbeResult = {
      ...system,
      python: { ...system.python, version: '3.8.10' },
      packages: { ...system.packages, 'hpc-jupyter-job': '0.0.9', pyspark: '3.5.1' },
      java: { path: '/usr/bin/java', version: '11.0.22', major: 11, error: null },
      workdir: {
        path: '/scratch/shared',
        exists: true,
        directory: true,
        mode: 0o1777,
        uid: 0,
        writable: true,
      },
    };
    const report = buildReport('oldsite', '/usr/bin/python3', old, '0.1.0');
    const byId = new Map(report.requirements.map((r) => [r.id, r]));
    expect(byId.get('python')).toMatchObject({ ok: false, found: '3.8.10', want: '>= 3.9' });
    expect(byId.get('java')).toMatchObject({ ok: false, found: '11.0.22 (/usr/bin/java)' });
    expect(byId.get('pyspark')).toMatchObject({ ok: true, found: '3.5.1' });
    expect(byId.get('workdir')).toMatchObject({
      ok: false,
      found: '/scratch/shared belongs to uid 0',
    });
    expect(report.templates.find((t) => t.template === 'spark')?.missing).toEqual([
      'python',
      'hpc_jupyter',
      'workdir',
      'java',
    ]);
  });

  it('a workdir of ours that others may write into is refused; a missing one is made later', () => {
    const full = recorded('full');
    const writable = buildReport(
      't',
      'py',
      {
        ...full,
        workdir: {
          path: '/w',
          exists: true,
          directory: true,
          mode: 0o775,
          uid: full.uid,
          writable: true,
        },
      },
      '0.1.0',
    );
    expect(writable.requirements.find((r) => r.id === 'workdir')).toMatchObject({
      ok: false,
      found: '/w, mode 0775: others may write',
    });
    const missing = buildReport(
      't',
      'py',
      { ...full, workdir: { path: '/w', exists: false } },
      '0.1.0',
    );
    expect(missing.requirements.find((r) => r.id === 'workdir')).toMatchObject({ ok: true });
  });
});

describe('formatReport', () => {
  it('shows the table, the templates and the command that fixes it', () => {
    const text = formatReport(buildReport('testlab', 'bare/bin/python', recorded('bare'), '0.1.0'));
    expect(text).toContain('Job environment of testlab: bare/bin/python\n');
    expect(text).toMatch(
      /^MISSING +hpc_jupyter +missing +0\.1\.0 \(this hpc-jupyter's version\) +all$/m,
    );
    expect(text).toMatch(/^ok +java +17\.0\.15 \(\/usr\/bin\/java\) +>= 17 +spark, spark-kernel$/m);
    expect(text).toMatch(/^spark-kernel +no +hpc_jupyter, pyspark, ipykernel, cryptography$/m);
    expect(text).toContain('0 of 8 templates usable.\n');
    expect(text).toContain('hpc-jupyter setup --cluster testlab --create-venv');
  });

  it('marks a template usable with an optional part missing', () => {
    const full = recorded('full');
    const text = formatReport(
      buildReport('t', 'py', { ...full, packages: { ...full.packages, grpcio: null } }, '0.1.0'),
    );
    expect(text).toMatch(
      /^spark +yes\* +\(grpcio for --param connectServer=true, pyspark\[connect\]\)$/m,
    );
    expect(text).toContain('8 of 8 templates usable.');
    expect(text).not.toContain('--create-venv');
  });

  it('the JSON form is the report itself', () => {
    const report = buildReport('testlab', 'py', recorded('full'), '0.1.0');
    const json = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(json.templates.find((t) => t.template === 'jupyter')).toEqual({
      template: 'jupyter',
      usable: true,
      missing: [],
      limited: [],
    });
  });
});

describe('the probe command', () => {
  it('runs after the prologue in a login bash, with the arguments as argv', () => {
    const argv = withPrologue('module load python/3.11', probeArgv('python3', '/w', ['py4j']));
    expect(argv.slice(0, 2)).toEqual(['bash', '-lc']);
    expect(argv[2]).toBe('module load python/3.11\nexec "$@"');
    expect(argv[4]).toBe('python3');
    expect(argv.slice(-2)).toEqual(['/w', '["py4j"]']);
  });
});
