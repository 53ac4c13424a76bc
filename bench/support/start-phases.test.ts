import { describe, expect, it } from 'vitest';
import { phasesOf } from './start-phases.js';

describe('start phases', () => {
  it('splits the time between consecutive known instants', () => {
    expect(
      phasesOf({
        t0: 0,
        submitted: 400,
        log: { born: 600, modified: 5000 },
        jupyter: { firstLog: 2400, running: 2500 },
        readyFile: { modified: 2600 },
        seen: 3000,
      }),
    ).toEqual({
      submit: 400,
      'to step start': 200,
      'to Jupyter log': 1800,
      'Jupyter start': 100,
      'to ready file': 100,
      'seen by client': 400,
    });
  });

  it('folds a missing instant into the next phase', () => {
    expect(phasesOf({ t0: 0, submitted: 100, jupyter: { running: 2000 }, seen: 2100 })).toEqual({
      submit: 100,
      'Jupyter start': 1900,
      'seen by client': 100,
    });
  });
});
