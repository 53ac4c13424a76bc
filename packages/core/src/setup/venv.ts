/**
 * `setup --create-venv`: a virtual environment on the cluster with the job wheel and the engines'
 * packages. Nodes are often offline, so every wheel the install needs from this machine (the job
 * wheel, a wheelhouse) travels over the cluster's own transport (the SSH connection) and pip
 * installs from those files; the engines come from that wheelhouse (`--no-index`) or from the
 * site's index. The environment is built in a temporary sibling directory and renamed into place
 * only once it works, so a failure leaves the previous one as it was; an environment that already
 * has everything is left alone.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { posix } from 'node:path';
import { CommandError, HpcError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { probe, withPrologue, type ProbeResult } from './probe.js';
import { isDistributionFile, normalizeName, requirementsFor } from './requirements.js';

/** Left in every environment setup made: what replacing one without asking is allowed for. */
export const SETUP_MARKER = '.hpc-jupyter-setup.json';
/** Files above this size are sent in parts, so no wheel is held in memory whole. */
const PART_BYTES = 32 * 1024 * 1024;

export interface VenvPlan {
  readonly transport: Transport;
  readonly cluster: string;
  readonly prologue?: string;
  /** The absolute path of the environment on the cluster. */
  readonly target: string;
  /** The Python the environment is made with. */
  readonly basePython: string;
  readonly clientVersion: string;
  /** The job wheel on this machine. */
  readonly jobWheel: string;
  /** A directory of wheels (and sdists) on this machine. */
  readonly wheelhouse?: string;
  readonly indexUrl?: string;
  /** The cluster's work directory, for the report. */
  readonly workdir?: string;
  readonly signal?: AbortSignal;
  /** Progress lines for the terminal. */
  readonly log: (line: string) => void;
}

export interface VenvResult {
  /** The environment's python, what the cluster's `python` becomes. */
  readonly python: string;
  /** False when the environment already had everything and was left alone. */
  readonly built: boolean;
  /** The requirements given to pip (empty when nothing was built). */
  readonly installed: readonly string[];
  readonly probe: ProbeResult;
}

export class VenvError extends HpcError {
  override readonly name = 'VenvError';
}

async function wheelhouseFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: unknown) => {
    throw new VenvError(`Cannot read the wheelhouse ${dir}: ${(error as Error).message}`, {
      hint: 'Give --wheelhouse a directory of wheels on this machine (pip download / pip wheel -w DIR).',
    });
  });
  const files = names.filter(isDistributionFile).sort();
  if (files.length === 0) {
    throw new VenvError(`The wheelhouse ${dir} holds no wheels or source archives.`, {
      hint: 'Fill it with `pip wheel -w DIR jupyterlab ipykernel ...` on a machine with the same platform.',
    });
  }
  return files;
}

/** Runs `argv` on the cluster after its prologue; a non-zero exit becomes a CommandError. */
async function remote(
  plan: VenvPlan,
  argv: readonly string[],
  what: string,
  hint: string,
  timeout = 600_000,
): Promise<string> {
  const full = withPrologue(plan.prologue, argv);
  const result = await plan.transport.run(full, {
    timeout,
    ...(plan.signal === undefined ? {} : { signal: plan.signal }),
  });
  if (result.code !== 0) {
    const tail = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-12).join('\n');
    throw new CommandError(
      `${what} failed on ${plan.transport.label} (exit ${String(result.code)}):\n${tail}`,
      argv,
      result.code,
      result.stderr,
      { hint, cluster: plan.cluster },
    );
  }
  return result.stdout;
}

/** Copies one local file to the cluster, in parts for big files, ending with mode 0600. */
async function upload(plan: VenvPlan, local: string, dest: string): Promise<void> {
  const { transport } = plan;
  const size = (await stat(local)).size;
  const signal = plan.signal === undefined ? {} : { signal: plan.signal };
  const handle = await open(local, 'r');
  try {
    if (size <= PART_BYTES) {
      await transport.writeFileAtomic(dest, await handle.readFile(), { mode: 0o600, ...signal });
      return;
    }
    const parts: string[] = [];
    for (let offset = 0; offset < size; offset += PART_BYTES) {
      const buf = Buffer.alloc(Math.min(PART_BYTES, size - offset));
      await handle.read(buf, 0, buf.length, offset);
      const part = `${dest}.part${String(parts.length).padStart(4, '0')}`;
      await transport.writeFileAtomic(part, buf, { mode: 0o600, ...signal });
      parts.push(part);
    }
    await remote(
      plan,
      ['sh', '-c', 'out=$1; shift; cat -- "$@" > "$out" && rm -f -- "$@"', 'sh', dest, ...parts],
      `Joining the parts of ${path.basename(local)}`,
      'Check the free space on the cluster filesystem.',
    );
  } finally {
    await handle.close();
  }
}

/** Rewrites `#!<from>/bin/python` (and any other mention) in the scripts of `dir`/bin to `to`. */
const RELOCATE_PY = `
import os, sys
src, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
b = os.path.join(src, "bin")
for n in os.listdir(b):
    p = os.path.join(b, n)
    if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > 1 << 20:
        continue
    with open(p, "rb") as f:
        data = f.read()
    if old in data:
        st = os.stat(p)
        with open(p + ".tmp", "wb") as f:
            f.write(data.replace(old, new))
        os.chmod(p + ".tmp", st.st_mode & 0o7777)
        os.replace(p + ".tmp", p)
`;

/** Swaps `tmp` into `target`, keeping the old one until the new one is in place. */
const SWAP_SH =
  'tmp=$1 target=$2 old=$3\n' +
  'if [ -e "$target" ]; then\n' +
  '  mv -T -- "$target" "$old" || exit 1\n' +
  '  if ! mv -T -- "$tmp" "$target"; then mv -T -- "$old" "$target"; exit 1; fi\n' +
  '  rm -rf -- "$old" || true\n' +
  'else\n' +
  '  mv -T -- "$tmp" "$target"\n' +
  'fi';

function missingProjects(found: ProbeResult, projects: readonly string[]): string[] {
  const dists = found.dists ?? {};
  return projects.filter((p) => {
    const v = dists[p] ?? null;
    return v === null || v.startsWith('broken');
  });
}

export async function createVenv(plan: VenvPlan): Promise<VenvResult> {
  const { transport, target, log } = plan;
  const signal = plan.signal === undefined ? {} : { signal: plan.signal };
  const files = plan.wheelhouse === undefined ? undefined : await wheelhouseFiles(plan.wheelhouse);
  const { requirements, projects } = requirementsFor(files);
  const python = posix.join(target, 'bin', 'python');
  const probeOptions = {
    cluster: plan.cluster,
    dists: projects.map(normalizeName),
    ...(plan.workdir === undefined ? {} : { workdir: plan.workdir }),
    ...(plan.prologue === undefined ? {} : { prologue: plan.prologue }),
    ...signal,
  };

  if (await transport.exists(target, signal)) {
    if (!(await transport.exists(posix.join(target, SETUP_MARKER), signal))) {
      throw new VenvError(
        `${target} on ${transport.label} exists and was not made by hpc-jupyter setup, so it is left alone.`,
        {
          hint: `Give --create-venv another path, or remove ${target} first.`,
        },
      );
    }
    const current = await probe(transport, python, probeOptions).catch(() => undefined);
    if (current !== undefined) {
      const job = current.packages['hpc-jupyter-job'] ?? null;
      const missing = missingProjects(current, projects);
      if (job === plan.clientVersion && missing.length === 0) {
        log(`${target} already has hpc-jupyter's job package ${job} and everything asked for.`);
        return { python, built: false, installed: [], probe: current };
      }
      log(
        `${target} is out of date (job package ${job ?? 'missing'}${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}): building a new one beside it.`,
      );
    }
  }

  const suffix = randomBytes(4).toString('hex');
  const tmp = `${target}.new-${suffix}`;
  const local = transport.kind === 'local';
  const uploads = local ? undefined : `${target}.wheels-${suffix}`;
  try {
    await transport.mkdir(posix.dirname(target), { mode: 0o700, ...signal });
    log(
      `creating a virtual environment with ${plan.basePython} (in ${tmp}, renamed when it works)`,
    );
    await remote(
      plan,
      [plan.basePython, '-m', 'venv', tmp],
      `Creating a virtual environment with ${plan.basePython}`,
      `That Python needs its venv module with ensurepip (on Debian/Ubuntu: python3-venv). Or give --python another Python 3.9+.`,
    );

    // The files pip installs from: uploaded over this connection, or where they are (this machine).
    let jobWheel = plan.jobWheel;
    let links = plan.wheelhouse;
    if (uploads !== undefined) {
      await transport.mkdir(uploads, { mode: 0o700, ...signal });
      const all = [plan.jobWheel, ...(files ?? []).map((f) => path.join(plan.wheelhouse ?? '', f))];
      let bytes = 0;
      for (const f of all) bytes += (await stat(f)).size;
      log(`uploading ${String(all.length)} file(s), ${(bytes / 1e6).toFixed(1)} MB, to ${uploads}`);
      for (const f of all) await upload(plan, f, posix.join(uploads, path.basename(f)));
      jobWheel = posix.join(uploads, path.basename(plan.jobWheel));
      links = plan.wheelhouse === undefined ? undefined : uploads;
    }

    const pip = [
      posix.join(tmp, 'bin', 'python'),
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      ...(plan.wheelhouse !== undefined && plan.indexUrl === undefined ? ['--no-index'] : []),
      ...(links === undefined ? [] : ['--find-links', links]),
      ...(plan.indexUrl === undefined ? [] : ['--index-url', plan.indexUrl]),
      jobWheel,
      ...requirements,
    ];
    log(
      `installing the job wheel and ${String(requirements.length)} requirement(s) from ${plan.wheelhouse !== undefined ? 'the wheelhouse' : ''}${plan.wheelhouse !== undefined && plan.indexUrl !== undefined ? ' and ' : ''}${plan.indexUrl ?? (plan.wheelhouse === undefined ? "the cluster's own pip index" : '')}`,
    );
    await remote(
      plan,
      pip,
      'Installing into the new environment',
      plan.wheelhouse !== undefined && plan.indexUrl === undefined
        ? 'Add what pip could not find to the wheelhouse (pip wheel -w DIR NAME), for the Python and platform of the cluster, or give --index-url.'
        : "Give --wheelhouse DIR with the packages, or --index-url of your site's package index.",
      1_800_000,
    );
    await remote(
      plan,
      [posix.join(tmp, 'bin', 'python'), '-c', RELOCATE_PY, tmp, tmp, target],
      'Pointing the new environment at its final path',
      'Check the free space and permissions on the cluster filesystem.',
    );
    await transport.writeFileAtomic(
      posix.join(tmp, SETUP_MARKER),
      `${JSON.stringify({ version: plan.clientVersion, requirements, made: new Date().toISOString() })}\n`,
      { mode: 0o600, ...signal },
    );
    await remote(
      plan,
      ['sh', '-c', SWAP_SH, 'sh', tmp, target, `${target}.old-${suffix}`],
      `Moving the new environment to ${target}`,
      'Check the permissions of its parent directory.',
    );
  } catch (error) {
    await remote(plan, ['rm', '-rf', '--', tmp], 'Removing the partial environment', '').catch(
      () => undefined,
    );
    throw error;
  } finally {
    if (uploads !== undefined) {
      await remote(plan, ['rm', '-rf', '--', uploads], 'Removing the uploads', '').catch(
        () => undefined,
      );
    }
  }
  const found = await probe(transport, python, probeOptions);
  return { python, built: true, installed: requirements, probe: found };
}
