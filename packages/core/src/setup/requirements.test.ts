/** What setup asks pip for: the engines' list, or every project of a wheelhouse. */
import { describe, expect, it } from 'vitest';
import { ENGINE_REQUIREMENTS, projectOfFile, requirementsFor } from './requirements.js';

describe('projectOfFile', () => {
  it('reads wheels and sdists, normalized; other files are none', () => {
    expect(projectOfFile('jupyter_server-2.14.2-py3-none-any.whl')).toBe('jupyter-server');
    expect(projectOfFile('pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl')).toBe('pyzmq');
    expect(projectOfFile('pyspark-4.3.0-py2.py3-none-any.whl')).toBe('pyspark');
    expect(projectOfFile('foo-1.0-1-py3-none-any.whl')).toBe('foo');
    expect(projectOfFile('mpi4py-4.1.2.tar.gz')).toBe('mpi4py');
    expect(projectOfFile('zope.interface-7.0.zip')).toBe('zope-interface');
    expect(projectOfFile('README.txt')).toBeUndefined();
    expect(projectOfFile('.hidden.whl.part0')).toBeUndefined();
  });
});

describe('requirementsFor', () => {
  it('without a wheelhouse: the engines', () => {
    const r = requirementsFor(undefined);
    expect(r.requirements).toEqual([...ENGINE_REQUIREMENTS.values()]);
    expect(r.requirements).toContain('pyspark[connect]>=4,<5');
  });

  it('a wheelhouse: each project once, with our bounds, without the job package (it is uploaded as it is)', () => {
    const r = requirementsFor([
      'pyspark-4.3.0-py2.py3-none-any.whl',
      'py4j-0.10.9.9-py2.py3-none-any.whl',
      'ipykernel-7.4.0-py3-none-any.whl',
      'ipykernel-6.29.5-py3-none-any.whl',
      'hpc_jupyter_job-0.1.0-py3-none-any.whl',
    ]);
    expect(r.projects).toEqual(['ipykernel', 'py4j', 'pyspark']);
    expect(r.requirements).toEqual(['ipykernel>=6.29,<8', 'py4j', 'pyspark>=4,<5']);
  });
});
