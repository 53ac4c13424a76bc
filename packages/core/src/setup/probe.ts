/**
 * The job environment probe: one Python script, run with a cluster's `python` over the cluster's
 * own transport (SSH or this machine), after the cluster's prologue as a job would run it, that
 * reports in one JSON line what the templates need: the Python, the packages (found without
 * importing them, so a heavy or broken package costs nothing), a Java Spark can run, mpiexec,
 * and the work directory's owner and mode. Parsing is pure, so the report is tested on recorded
 * output.
 */
import { HpcError } from '../errors.js';
import type { Transport } from '../transport/types.js';

/** What the probe prints its JSON after, so a login shell's greeting on stdout is no problem. */
export const PROBE_MARKER = 'HPCJ-SETUP-PROBE ';

/** Distribution and import names the probe looks for; `version` is null when absent. */
export const PROBED_PACKAGES = [
  ['hpc-jupyter-job', 'hpc_jupyter'],
  ['jupyter-server', 'jupyter_server'],
  ['jupyterlab', 'jupyterlab'],
  ['ipykernel', 'ipykernel'],
  ['cryptography', 'cryptography'],
  ['distributed', 'distributed'],
  ['bokeh', 'bokeh'],
  ['ipyparallel', 'ipyparallel'],
  ['pyspark', 'pyspark'],
  ['grpcio', 'grpc'],
  ['mpi4py', 'mpi4py'],
  ['pip', 'pip'],
] as const;

export type ProbedPackage = (typeof PROBED_PACKAGES)[number][0];

// Plain Python 3 (no f-strings, no walrus): an old site Python must still say how old it is.
const PROBE_PY = `
import json, os, re, subprocess, sys

def version_of(dist, module):
    if module is None:
        try:
            from importlib.metadata import version
            return version(dist)
        except Exception:
            return None
    try:
        import importlib.util
        if importlib.util.find_spec(module) is None:
            return None
    except Exception:
        return None
    if module == "hpc_jupyter":
        try:
            import hpc_jupyter
            v = getattr(hpc_jupyter, "__version__", None)
            if v:
                return str(v)
        except Exception as e:
            return "broken: %s" % e
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        pass
    try:
        return str(getattr(__import__(module), "__version__", "unknown"))
    except Exception as e:
        return "broken: %s" % e

def which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, name)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None

def java():
    home = os.environ.get("JAVA_HOME")
    path = os.path.join(home, "bin", "java") if home else which("java")
    if not path or not os.access(path, os.X_OK):
        return None
    try:
        p = subprocess.Popen([path, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.communicate(timeout=30)[0].decode("utf-8", "replace")
    except Exception as e:
        return {"path": path, "version": None, "major": None, "error": str(e)}
    m = re.search(r'version "([^"]+)"', out)
    v = m.group(1) if m else None
    major = None
    if v:
        parts = v.split(".")
        try:
            major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(re.match(r"\\d+", v).group(0))
        except Exception:
            major = None
    return {"path": path, "version": v, "major": major,
            "error": None if p.returncode == 0 else out.strip()[-300:]}

def workdir(path):
    out = {"path": path, "exists": False}
    try:
        st = os.stat(path)
    except OSError:
        return out
    import stat as S
    out.update(exists=True, directory=S.S_ISDIR(st.st_mode), mode=S.S_IMODE(st.st_mode),
               uid=st.st_uid, writable=os.access(path, os.W_OK))
    return out

def ensurepip():
    try:
        import importlib.util
        return importlib.util.find_spec("venv") is not None and importlib.util.find_spec("ensurepip") is not None
    except Exception:
        return False

packages = json.loads(sys.argv[1])
exe_dir = os.path.dirname(sys.executable)
mpiexec = os.path.join(exe_dir, "mpiexec")
out = {
    "python": {"version": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable,
               "prefix": sys.prefix, "venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
               "canCreateVenv": ensurepip()},
    "packages": dict((d, version_of(d, m)) for d, m in packages),
    "java": java(),
    "mpiexec": mpiexec if os.access(mpiexec, os.X_OK) else which("mpiexec"),
    "workdir": workdir(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None,
    "dists": dict((d, version_of(d, None)) for d in (json.loads(sys.argv[3]) if len(sys.argv) > 3 else [])),
    "home": os.path.expanduser("~"),
    "uid": os.getuid(),
}
print("${PROBE_MARKER}" + json.dumps(out))
`;

export interface JavaFound {
  readonly path: string;
  readonly version: string | null;
  readonly major: number | null;
  readonly error: string | null;
}

export interface WorkdirFound {
  readonly path: string;
  readonly exists: boolean;
  readonly directory?: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly writable?: boolean;
}

/** The probe's report, as it printed it. */
export interface ProbeResult {
  readonly python: {
    readonly version: string;
    readonly executable: string;
    readonly prefix: string;
    readonly venv: boolean;
    readonly canCreateVenv: boolean;
  };
  /** By distribution name: the installed version, `broken: ...`, or null when absent. */
  readonly packages: Readonly<Partial<Record<ProbedPackage, string | null>>>;
  readonly java: JavaFound | null;
  readonly mpiexec: string | null;
  readonly workdir: WorkdirFound | null;
  readonly home: string;
  readonly uid: number;
  /** Versions of the distributions asked for by name (ProbeOptions.dists). */
  readonly dists?: Readonly<Record<string, string | null>>;
}

/** The probe could not run the Python (not found, not Python 3, killed). */
export class ProbeError extends HpcError {
  override readonly name = 'ProbeError';
}

/**
 * The argv that runs `argv` the way a job would: a login bash, the cluster's prologue (module
 * loads, venv activation), then the program.
 */
export function withPrologue(prologue: string | undefined, argv: readonly string[]): string[] {
  const text = prologue === undefined || prologue.trim() === '' ? '' : `${prologue}\n`;
  return ['bash', '-lc', `${text}exec "$@"`, 'hpc-jupyter-setup', ...argv];
}

export function probeArgv(
  python: string,
  workdir: string | undefined,
  dists: readonly string[] = [],
): string[] {
  return [
    python,
    '-c',
    PROBE_PY,
    JSON.stringify(PROBED_PACKAGES),
    workdir ?? '',
    JSON.stringify(dists),
  ];
}

/** The JSON after the last marker line, or undefined when there is none. */
export function parseProbeOutput(stdout: string): ProbeResult | undefined {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(PROBE_MARKER));
  if (line === undefined) return undefined;
  return JSON.parse(line.slice(PROBE_MARKER.length)) as ProbeResult;
}

export interface ProbeOptions {
  /** The cluster's name, for the hint. */
  readonly cluster?: string;
  readonly prologue?: string;
  readonly workdir?: string;
  /** Distribution names whose versions to report in `dists`. */
  readonly dists?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Runs the probe with `python` on the transport's side. */
export async function probe(
  transport: Transport,
  python: string,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const argv = withPrologue(options.prologue, probeArgv(python, options.workdir, options.dists));
  const result = await transport.run(argv, {
    timeout: 120_000,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const parsed = result.code === 0 ? parseProbeOutput(result.stdout) : undefined;
  if (parsed === undefined) {
    const why = result.stderr.trim().split('\n').slice(-3).join('\n');
    throw new ProbeError(
      `Could not run the job environment's Python ${python} on ${transport.label} (exit ${String(result.code)})${why === '' ? '' : `:\n${why}`}`,
      {
        hint: `Set \`python\` for this cluster to a Python 3.9 or newer that jobs can run, or make one with \`hpc-jupyter setup --cluster ${options.cluster ?? 'CLUSTER'} --create-venv --python /path/to/python3\`.`,
      },
    );
  }
  return parsed;
}
