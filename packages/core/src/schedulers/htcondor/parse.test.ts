import { describe, expect, it } from 'vitest';

import { condorRmArgv, condorStatusArgv, condorSubmitArgv } from './commands.js';
import { WALLTIME_RULE, renderSubmitDescription } from './directives.js';
import { classifyCondorRm, htcondorErrorLine, htcondorHint } from './errors.js';
import { adToStatus, parseAds, parseSubmitTerse } from './parse.js';
import { HTCONDOR_STATE_MAP, completedState, mapHtcondorState, removedState } from './states.js';

describe('HTCondor states', () => {
  it('maps JobStatus 1-7 and nothing else', () => {
    expect(Object.keys(HTCONDOR_STATE_MAP)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(mapHtcondorState(6)).toBe('stopping');
    expect(mapHtcondorState(0)).toBe('unknown');
    expect(mapHtcondorState(undefined)).toBe('unknown');
    expect(
      removedState("The job attribute PeriodicRemove expression '...' evaluated to TRUE"),
    ).toBe('timed-out');
    expect(removedState('via condor_rm (by user u)')).toBe('cancelled');
    expect(completedState(false, 0)).toBe('completed');
    expect(completedState(true, undefined)).toBe('failed');
    expect(completedState(undefined, undefined)).toBe('unknown');
  });

  it('never calls a completed ad without an exit code completed', () => {
    expect(adToStatus({ ClusterId: 1, ProcId: 0, JobStatus: 4 })).toMatchObject({
      id: '1.0',
      state: 'unknown',
    });
    expect(adToStatus({ ClusterId: 1, ProcId: 0 })).toMatchObject({
      state: 'unknown',
      reason: 'the job ad has no JobStatus',
    });
  });
});

describe('HTCondor parsers', () => {
  it('reads -json output, empty output and -terse ids', () => {
    expect(parseAds('', 'condor_q')).toEqual([]);
    expect(parseAds('[\n{ "ClusterId": 1, "ProcId": 0 }\n]\n', 'condor_q')).toEqual([
      { ClusterId: 1, ProcId: 0 },
    ]);
    expect(() => parseAds('{}', 'condor_q')).toThrow(/not a list of ads/);
    expect(parseSubmitTerse('310.0 - 310.0\n')).toBe('310.0');
    expect(parseSubmitTerse('311.0 - 311.3\n')).toBe('311.0');
    expect(parseSubmitTerse('Submitting job(s).\n')).toBeUndefined();
  });
});

describe('HTCondor submit description, commands and errors', () => {
  it('renders one vanilla job, or a parallel-universe job for several nodes', () => {
    expect(
      renderSubmitDescription(
        {
          name: 'hpcj-c',
          tasksPerNode: 2,
          cpusPerTask: 2,
          memoryMiB: 8000,
          gpusPerNode: 1,
          walltimeMinutes: 60,
          account: 'group_phys.u',
          workdir: '/w',
          output: '/w/log',
        },
        '/w/job.sh',
      ),
    ).toBe(
      [
        'universe = vanilla',
        'executable = /w/job.sh',
        'batch_name = hpcj-c',
        'request_cpus = 4',
        'request_memory = 8000MB',
        'request_gpus = 1',
        '+MaxRuntime = 3600',
        `periodic_remove = ${WALLTIME_RULE}`,
        'accounting_group = group_phys.u',
        'initialdir = /w',
        'output = /w/log',
        'error = /w/log',
        'should_transfer_files = NO',
        'notification = Never',
        'queue 1',
        '',
      ].join('\n'),
    );
    const parallel = renderSubmitDescription({ name: 'hpcj-p', nodes: 4 }, '/w/job.sh');
    expect(parallel).toMatch(/^universe = parallel\n/);
    expect(parallel).toContain('machine_count = 4\n');
  });

  it('refuses what has no HTCondor equivalent, or would expand as a macro', () => {
    expect(() => renderSubmitDescription({ name: 'a1', qos: 'q' }, '/w/j')).toThrow(
      /^qos is not supported on HTCondor/,
    );
    expect(() => renderSubmitDescription({ name: 'a1', output: '/w/$(Cluster)' }, '/w/j')).toThrow(
      /output .* contains '\$'/,
    );
    expect(() => renderSubmitDescription({ name: 'a1' }, 'job.sh')).toThrow(/absolute/);
  });

  it('builds argv arrays and reads errors', () => {
    expect(condorSubmitArgv()).toEqual(['condor_submit', '-terse', '-']);
    expect(condorRmArgv(['1.0'])).toEqual(['condor_rm', '1.0']);
    expect(condorStatusArgv()[1]).toBe('-json');
    expect(htcondorErrorLine("\nERROR: Can't find address of local schedd\n")).toBe(
      "Can't find address of local schedd",
    );
    expect(htcondorHint('CEDAR:6001:Failed to connect to <1.2.3.4:9618>')).toMatch(
      /schedd did not answer/,
    );
    expect(htcondorHint('weird')).toBeUndefined();
    expect(
      classifyCondorRm(
        'Job 1.0 marked for removal\nJob 2.0 not found\nPermission denied for 3.0\n',
      ),
    ).toEqual({
      ignored: ['Job 2.0 not found'],
      errors: ['Permission denied for 3.0'],
    });
  });
});
