import { describe, expect, it } from 'vitest';
import { cpuTimes, idleShare } from './quiet-cluster.js';

describe('CPU quiet check', () => {
  it("reads idle and total time from /proc/stat's first line, guests counted once", () => {
    const stat = [
      'cpu  4705 150 1120 16250 520 0 87 13 40 0',
      'cpu0 2350 75 560 8125 260 0 43 6 20 0',
      'intr 1234',
    ].join('\n');
    expect(cpuTimes(stat)).toEqual({
      idle: 16250 + 520,
      total: 4705 + 150 + 1120 + 16250 + 520 + 87 + 13,
    });
  });

  it('refuses what is not /proc/stat', () => {
    expect(() => cpuTimes('intr 1234')).toThrow(/not \/proc\/stat/);
  });

  it("measures this machine's idle share as a fraction", async () => {
    const idle = await idleShare(200);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(1);
  });
});
