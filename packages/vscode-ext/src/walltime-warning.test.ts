import { describe, expect, it } from 'vitest';
import { FakeVscode } from './fake-vscode.testutil';
import { SessionsModel } from './sessions-model';
import { readyJupyter } from './test-agent.testutil';
import { dueForWarning, WalltimeWarnings } from './walltime-warning';

const T0 = Date.parse('2025-03-04T12:00:00Z');
const started = new Date(T0).toISOString();

describe('walltime warnings', () => {
  it('picks live sessions within the lead time that were not warned about', () => {
    const sessions = [
      readyJupyter('s1', { startedAt: started, timeLimitMinutes: 60 }),
      readyJupyter('s2', { startedAt: started, timeLimitMinutes: 120 }),
      readyJupyter('s3', { startedAt: started, timeLimitMinutes: 60, state: 'stopping' }),
      readyJupyter('s4', { startedAt: started, timeLimitMinutes: 60 }),
    ];
    const now = T0 + 52 * 60_000;
    expect(dueForWarning(sessions, now, 10, new Set(['s4'])).map((s) => s.id)).toEqual(['s1']);
    expect(dueForWarning(sessions, now, 0, new Set())).toEqual([]);
  });

  it('warns once, and its buttons show the log or stop the session', async () => {
    const fake = new FakeVscode();
    const model = new SessionsModel();
    const logs: string[] = [];
    const stopped: string[] = [];
    let now = T0;
    const warnings = new WalltimeWarnings(fake.vs, {
      model,
      now: () => now,
      leadMinutes: () => 10,
      showLogs: (id) => {
        logs.push(id);
        return Promise.resolve();
      },
      stop: (r) => {
        stopped.push(r.id);
        return Promise.resolve();
      },
      checkMs: 60_000,
    });
    model.upsert(readyJupyter('s1', { startedAt: started, timeLimitMinutes: 60 }));
    model.upsert(readyJupyter('s2', { startedAt: started, timeLimitMinutes: 60 }));
    warnings.check();
    expect(fake.messages).toEqual([]);
    now = T0 + 55 * 60_000;
    fake.messageScripts.push(
      () => 'Stop Now',
      () => 'Show Logs',
    );
    warnings.check();
    warnings.check();
    expect(fake.messages.map((m) => m.message)).toEqual([
      '"JupyterLab s1" reaches its walltime in 5 min; the job and its kernels stop then. Save your work.',
      '"JupyterLab s2" reaches its walltime in 5 min; the job and its kernels stop then. Save your work.',
    ]);
    await new Promise((r) => setTimeout(r, 0));
    expect(stopped).toEqual(['s1']);
    expect(logs).toEqual(['s2']);
    warnings.dispose();
  });
});
