// The rendered `jupyter` job, run for real with bash as the local scheduler would: JupyterLab
// comes up behind its token under /sessions/<id>/, the token stays out of argv, logs and
// connection.json, and SIGTERM to the job stops the server and its kernels.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  descendants,
  jobLog,
  prepareSession,
  requireVenv,
  startJob,
  stopJob,
  waitForFile,
  waitGone,
  type RunningJob,
  type Session,
} from '../runtime/job-harness.js';

const TOKEN = 'hpcj-test-token-5f2b9c0e4d7a';

interface Connection {
  kind: string;
  host: string;
  port: number;
  baseUrl: string;
  pid: number;
  node: string;
}

let session: Session | undefined;
let job: RunningJob | undefined;
let seen: number[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  cleanup(session, job, seen);
  session = undefined;
  job = undefined;
  seen = [];
});

describe('the jupyter template, run locally', () => {
  it('serves JupyterLab behind the token and stops cleanly on SIGTERM', async () => {
    session = await prepareSession('jupyter');
    writeFileSync(path.join(session.dir, 'token'), TOKEN, { mode: 0o600 });
    job = startJob(session);

    const file = await waitForFile(session, job, 'connection.json', 25_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(session.dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(TOKEN);
    const conn = JSON.parse(text) as Connection;
    expect(conn).toMatchObject({
      kind: 'jupyter',
      host: '127.0.0.1',
      baseUrl: `/sessions/${session.id}/`,
    });
    expect(conn.port).toBeGreaterThan(0);
    expect(descendants(job.pid)).toContain(conn.pid);

    const base = `http://${conn.host}:${conn.port}${conn.baseUrl}`;
    const auth = { Authorization: `token ${TOKEN}` };
    const status = await fetch(`${base}api/status`, { headers: auth });
    expect(status.status, jobLog(session)).toBe(200);
    expect((await fetch(`${base}api/status`)).status).toBe(403);
    expect(
      (await fetch(`${base}api/status`, { headers: { Authorization: 'token wrong' } })).status,
    ).toBe(403);

    // A kernel, so that stopping also has to stop what the server started.
    const started = await fetch(`${base}api/kernels`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(started.status, jobLog(session)).toBe(201);

    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(TOKEN);
    expect(jobLog(session)).not.toContain(TOKEN);

    seen = descendants(job.pid);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    const result = await stopJob(job);
    expect(result.code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
    expect(jobLog(session)).toContain('received SIGTERM');
  });

  it('fails with a message when the token file is missing', async () => {
    session = await prepareSession('jupyter');
    job = startJob(session);
    const result = await job.exited;
    expect(result.code).toBe(1);
    expect(jobLog(session)).toMatch(/the Jupyter token is missing/);
  });
});
