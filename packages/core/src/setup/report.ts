/**
 * From a probe's findings to what `hpc-jupyter setup` reports: each requirement (found or
 * missing, and what it is wanted for), and per template whether a job of it can run. Pure: the
 * table and the JSON are tested on recorded probe output.
 */
import { formatTable } from '../cli/context.js';
import type { ProbedPackage, ProbeResult } from './probe.js';

export type RequirementId =
  | 'python'
  | 'hpc_jupyter'
  | 'jupyter_server'
  | 'jupyterlab'
  | 'ipykernel'
  | 'cryptography'
  | 'distributed'
  | 'bokeh'
  | 'ipyparallel'
  | 'pyspark'
  | 'java'
  | 'grpcio'
  | 'mpi4py'
  | 'workdir';

export interface Requirement {
  readonly id: RequirementId;
  readonly ok: boolean;
  /** What was found: a version, a path, "missing". */
  readonly found: string;
  /** What is wanted, e.g. ">= 3.9", "0.1.0". */
  readonly want: string;
}

export interface TemplateNeeds {
  readonly template: string;
  /** Without these a job of the template fails. */
  readonly needs: readonly RequirementId[];
  /** Only some uses need these (a parameter, the dashboard): reported, not blocking. */
  readonly optional?: Readonly<Partial<Record<RequirementId, string>>>;
}

const BASE: readonly RequirementId[] = ['python', 'hpc_jupyter', 'workdir'];

/** What each template's job runs (templates/<name>/body.sh and the modules it calls). */
export const TEMPLATE_NEEDS: readonly TemplateNeeds[] = [
  { template: 'jupyter', needs: [...BASE, 'jupyter_server', 'jupyterlab', 'ipykernel'] },
  { template: 'kernel', needs: [...BASE, 'ipykernel', 'cryptography'] },
  {
    template: 'dask',
    needs: [...BASE, 'distributed', 'cryptography'],
    optional: { bokeh: 'the dashboard' },
  },
  { template: 'dask-workers', needs: [...BASE, 'distributed', 'cryptography'] },
  {
    template: 'ipyparallel',
    needs: [...BASE, 'ipyparallel'],
    optional: { mpi4py: '--param mpi=true, with mpiexec' },
  },
  { template: 'ipyparallel-engines', needs: [...BASE, 'ipyparallel'] },
  {
    template: 'spark',
    needs: [...BASE, 'pyspark', 'java'],
    optional: { grpcio: '--param connectServer=true, pyspark[connect]' },
  },
  { template: 'spark-kernel', needs: [...BASE, 'pyspark', 'java', 'ipykernel', 'cryptography'] },
];

export interface TemplateVerdict {
  readonly template: string;
  readonly usable: boolean;
  readonly missing: readonly RequirementId[];
  /** Optional requirements that are missing, with what they are for. */
  readonly limited: readonly { readonly id: RequirementId; readonly for: string }[];
}

export interface SetupReport {
  readonly cluster: string;
  readonly python: string;
  readonly clientVersion: string;
  readonly requirements: readonly Requirement[];
  readonly templates: readonly TemplateVerdict[];
  /** True when every template is usable. */
  readonly ok: boolean;
}

export const MIN_PYTHON: readonly [number, number] = [3, 9];
export const MIN_JAVA = 17;

/** The distribution each package requirement is found as. */
const DISTRIBUTIONS: Partial<Record<RequirementId, ProbedPackage>> = {
  hpc_jupyter: 'hpc-jupyter-job',
  jupyter_server: 'jupyter-server',
  jupyterlab: 'jupyterlab',
  ipykernel: 'ipykernel',
  cryptography: 'cryptography',
  distributed: 'distributed',
  bokeh: 'bokeh',
  ipyparallel: 'ipyparallel',
  pyspark: 'pyspark',
  grpcio: 'grpcio',
  mpi4py: 'mpi4py',
};

function packageRequirement(id: RequirementId, probe: ProbeResult): Requirement {
  const dist = DISTRIBUTIONS[id];
  const version = dist === undefined ? null : (probe.packages[dist] ?? null);
  if (version === null) return { id, ok: false, found: 'missing', want: 'installed' };
  return { id, ok: !version.startsWith('broken'), found: version, want: 'installed' };
}

function versionAtLeast(version: string, min: readonly [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

/** Every requirement, judged. */
export function judgeRequirements(probe: ProbeResult, clientVersion: string): Requirement[] {
  const out: Requirement[] = [];
  const py = probe.python.version;
  out.push({
    id: 'python',
    ok: versionAtLeast(py, MIN_PYTHON),
    found: py,
    want: `>= ${MIN_PYTHON.join('.')}`,
  });
  const job = probe.packages['hpc-jupyter-job'] ?? null;
  out.push({
    id: 'hpc_jupyter',
    ok: job === clientVersion,
    found: job ?? 'missing',
    want: `${clientVersion} (this hpc-jupyter's version)`,
  });
  for (const id of [
    'jupyter_server',
    'jupyterlab',
    'ipykernel',
    'cryptography',
    'distributed',
    'bokeh',
    'ipyparallel',
    'pyspark',
  ] as const) {
    out.push(packageRequirement(id, probe));
  }
  const java = probe.java;
  out.push({
    id: 'java',
    ok: java !== null && java.error === null && (java.major ?? 0) >= MIN_JAVA,
    found:
      java === null
        ? 'missing (no JAVA_HOME, no java on the PATH)'
        : java.error !== null
          ? `${java.path} does not run: ${java.error.split('\n')[0] ?? ''}`
          : `${java.version ?? '?'} (${java.path})`,
    want: `>= ${MIN_JAVA}`,
  });
  out.push(packageRequirement('grpcio', probe));
  const mpi = packageRequirement('mpi4py', probe);
  out.push(
    mpi.ok && probe.mpiexec === null
      ? { ...mpi, ok: false, found: `${mpi.found}, but no mpiexec` }
      : mpi.ok
        ? { ...mpi, found: `${mpi.found} (${probe.mpiexec ?? ''})` }
        : mpi,
  );
  out.push(judgeWorkdir(probe));
  return out;
}

function judgeWorkdir(probe: ProbeResult): Requirement {
  const w = probe.workdir;
  const want = 'a directory of yours, not writable by others';
  if (w === null) return { id: 'workdir', ok: false, found: 'not checked', want };
  const mode = w.mode === undefined ? '' : `mode ${(w.mode & 0o777).toString(8).padStart(4, '0')}`;
  if (!w.exists) {
    // The first session makes it (0700) where its parent allows.
    return { id: 'workdir', ok: true, found: `${w.path} (made by the first session)`, want };
  }
  if (w.directory !== true)
    return { id: 'workdir', ok: false, found: `${w.path} is not a directory`, want };
  if (w.uid !== probe.uid)
    return { id: 'workdir', ok: false, found: `${w.path} belongs to uid ${String(w.uid)}`, want };
  if (((w.mode ?? 0) & 0o022) !== 0)
    return { id: 'workdir', ok: false, found: `${w.path}, ${mode}: others may write`, want };
  if (w.writable !== true)
    return { id: 'workdir', ok: false, found: `${w.path}, ${mode}: not writable`, want };
  return { id: 'workdir', ok: true, found: `${w.path}, ${mode}`, want };
}

export function buildReport(
  cluster: string,
  python: string,
  probe: ProbeResult,
  clientVersion: string,
): SetupReport {
  const requirements = judgeRequirements(probe, clientVersion);
  const byId = new Map(requirements.map((r) => [r.id, r]));
  const templates = TEMPLATE_NEEDS.map((t): TemplateVerdict => {
    const missing = t.needs.filter((id) => byId.get(id)?.ok !== true);
    const limited = Object.entries(t.optional ?? {})
      .filter(([id]) => byId.get(id as RequirementId)?.ok !== true)
      .map(([id, why]) => ({ id: id as RequirementId, for: why }));
    return { template: t.template, usable: missing.length === 0, missing, limited };
  });
  return {
    cluster,
    python,
    clientVersion,
    requirements,
    templates,
    ok: templates.every((t) => t.usable),
  };
}

/** Which templates want a requirement, for the table. */
function wantedBy(id: RequirementId): string {
  const names = TEMPLATE_NEEDS.filter((t) => t.needs.includes(id)).map((t) => t.template);
  if (names.length === TEMPLATE_NEEDS.length) return 'all';
  const optional = TEMPLATE_NEEDS.filter((t) => t.optional?.[id] !== undefined).map(
    (t) => `${t.template} (${t.optional?.[id] ?? ''})`,
  );
  return [...names, ...optional].join(', ');
}

/**
 * The report as a terminal shows it; `afterCreate`: it describes an environment setup just made,
 * so what is still missing was not in the wheelhouse or index.
 */
export function formatReport(report: SetupReport, afterCreate = false): string {
  const rows = [
    ['', 'what', 'found', 'wanted', 'needed by'],
    ...report.requirements.map((r) => [
      r.ok ? 'ok' : 'MISSING',
      r.id,
      r.found,
      r.want,
      wantedBy(r.id),
    ]),
  ];
  const templates = [
    ['template', 'usable', 'missing'],
    ...report.templates.map((t) => [
      t.template,
      t.usable ? (t.limited.length > 0 ? 'yes*' : 'yes') : 'no',
      [...t.missing, ...t.limited.map((l) => `(${l.id} for ${l.for})`)].join(', '),
    ]),
  ];
  const usable = report.templates.filter((t) => t.usable).length;
  const lines = [
    `Job environment of ${report.cluster}: ${report.python}`,
    '',
    formatTable(rows),
    '',
    formatTable(templates),
    '',
    `${String(usable)} of ${String(report.templates.length)} templates usable.`,
  ];
  if (!report.ok) {
    lines.push(
      afterCreate
        ? 'What is still missing was not in the wheelhouse or index: add it there (pip wheel -w DIR NAME) and run setup again.'
        : `Make an environment with everything on the cluster: hpc-jupyter setup --cluster ${report.cluster} --create-venv [--wheelhouse DIR | --index-url URL]`,
    );
  }
  return `${lines.join('\n')}\n`;
}
