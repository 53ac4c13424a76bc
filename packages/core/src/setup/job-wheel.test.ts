/**
 * The job wheel: the bundled one when there is one; else built from a copy of the sources (the
 * tree gets no build files) into a cache keyed by them, and reused.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_PACKAGE_SOURCE, jobWheel, jobWheelName } from './job-wheel.js';

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'hpcj-job-wheel-test-'));
}

describe('jobWheel', () => {
  it('prefers the bundled wheel', async () => {
    const bundled = tmp();
    writeFileSync(path.join(bundled, jobWheelName('9.9.9')), 'wheel');
    expect(await jobWheel('9.9.9', { bundledDir: bundled })).toBe(
      path.join(bundled, jobWheelName('9.9.9')),
    );
  });

  it('builds from the sources once, leaving them untouched, then reuses the cached wheel', async () => {
    const source = path.join(tmp(), 'python');
    mkdirSync(source);
    cpSync(path.join(JOB_PACKAGE_SOURCE, 'pyproject.toml'), path.join(source, 'pyproject.toml'));
    cpSync(path.join(JOB_PACKAGE_SOURCE, 'hpc_jupyter'), path.join(source, 'hpc_jupyter'), {
      recursive: true,
      filter: (p) => !p.includes('__pycache__'),
    });
    const before = readdirSync(source).sort();
    const cacheDir = tmp();
    const options = { bundledDir: tmp(), sourceDir: source, cacheDir };
    const built = await jobWheel('0.1.0', options);
    expect(path.basename(built)).toBe('hpc_jupyter_job-0.1.0-py3-none-any.whl');
    expect(built.startsWith(cacheDir)).toBe(true);
    expect(readdirSync(source).sort()).toEqual(before);
    const mtime = statSync(built).mtimeMs;
    expect(await jobWheel('0.1.0', options)).toBe(built);
    expect(statSync(built).mtimeMs).toBe(mtime);
    // A changed source is another wheel.
    writeFileSync(path.join(source, 'hpc_jupyter', 'extra.py'), '# new\n');
    expect(await jobWheel('0.1.0', options)).not.toBe(built);
  }, 120_000);

  it('refuses sources of another version', async () => {
    await expect(jobWheel('7.0.0', { bundledDir: tmp() })).rejects.toThrow(
      /declares version 0\.1\.0, but this hpc-jupyter is 7\.0\.0/,
    );
  });
});
