/**
 * The supervisor of one local job: a small Node program that `submit` writes into the job
 * directory as `supervisor.mjs` and starts detached with `node supervisor.mjs <job dir>`. It runs
 * the job script in its own process group, enforces the walltime, turns SIGTERM from `cancel`
 * into a group kill, and records the start and the end (started.json, exit.json) atomically. It
 * outlives the agent: it has its own session and its stdio goes to files.
 *
 * Why source text and not a module of this package: the program must run from any install
 * (built `dist/`, vitest on `src/`, a bundled extension), and a file we write next to the job
 * always exists, needs nothing from node_modules, and keeps running the version it started with
 * when the package is upgraded under a live job. The tests run it for real.
 *
 * The record shapes are those of `local-store.ts`; keep them in step.
 */

export const SUPERVISOR_SOURCE = String.raw`// hpc-jupyter local job supervisor, written by @hpc-jupyter/core (schedulers/local-supervisor.ts).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const dir = process.argv[2];
const job = JSON.parse(fs.readFileSync(join(dir, 'job.json'), 'utf8'));
const graceMs = job.killGraceSeconds * 1000;
let child;
let stopping; // why we are ending the job early: 'cancelled' | 'timed-out' | 'terminated'
let finished = false;

// A cancel (SIGTERM from the scheduler) or a shutdown: stop the job, then record why.
process.on('SIGTERM', () => stop(cancelAsked() ? 'cancelled' : 'terminated'));
process.on('SIGINT', () => stop(cancelAsked() ? 'cancelled' : 'terminated'));
process.on('SIGHUP', () => {}); // no terminal to lose

function writeJson(name, value) {
  const tmp = join(dir, '.' + name + '.' + process.pid + '.tmp');
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, JSON.stringify(value, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, join(dir, name));
}

function cancelAsked() {
  return fs.existsSync(join(dir, 'cancel.json'));
}

// Fields after the last ')' of /proc/<pid>/stat: state, ppid, pgrp, ..., starttime (index 19).
function procStat(pid) {
  try {
    const text = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], pgrp: Number(f[2]), startTicks: Number(f[19]) };
  } catch {
    return undefined;
  }
}

function bootId() {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

// Zombies do not count: orphans of the job wait for init to reap them, which can take seconds.
function groupAlive(pgid) {
  let names;
  try {
    names = fs.readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return names.some((n) => {
    if (!/^[0-9]+$/.test(n)) return false;
    const s = procStat(n);
    return s !== undefined && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X';
  });
}

function signalGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Like a batch system at the end of a job: nothing the job started in its group survives it.
async function endGroup() {
  if (!groupAlive(child.pid)) return;
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(100);
    if (!groupAlive(child.pid)) return;
  }
  signalGroup('SIGKILL');
}

function finish(record) {
  if (finished) return;
  finished = true;
  writeJson('exit.json', { ...record, endTime: new Date().toISOString() });
  process.exit(0);
}

function stop(why) {
  if (stopping !== undefined) return;
  stopping = why;
  if (child === undefined || child.pid === undefined) {
    finish({ state: why === 'cancelled' ? 'cancelled' : 'failed', code: null, signal: null,
      reason: why === 'cancelled' ? 'cancelled before it started' : 'the supervisor was terminated' });
    return;
  }
  signalGroup('SIGTERM');
  setTimeout(() => signalGroup('SIGKILL'), graceMs);
}

function outcome(code, signal) {
  if (stopping === 'cancelled') return { state: 'cancelled', code, signal, reason: 'cancelled' };
  if (stopping === 'timed-out') {
    return { state: 'timed-out', code, signal, reason: 'walltime of ' + job.walltimeSeconds + ' s reached' };
  }
  if (stopping === 'terminated') {
    return { state: 'failed', code, signal, reason: 'the supervisor was terminated' };
  }
  if (code === 0) return { state: 'completed', code, signal: null };
  return { state: 'failed', code, signal, reason: signal === null ? 'exit code ' + code : 'ended by ' + signal };
}

// setTimeout holds at most 2^31-1 ms (24.8 days); longer walltimes re-arm until they are due.
function atTime(when, action) {
  const left = when - Date.now();
  if (left <= 0) action();
  else setTimeout(() => atTime(when, action), Math.min(left, 2147483647));
}

function start() {
  // Recorded here as well as by submit, before the cancel check: a cancel that looked before
  // this record existed wrote its mark first, so the check below sees it.
  const self = procStat(process.pid);
  writeJson('supervisor.json', {
    pid: process.pid,
    startTicks: self === undefined ? undefined : self.startTicks,
    bootId: bootId(),
  });
  if (cancelAsked()) {
    finish({ state: 'cancelled', code: null, signal: null, reason: 'cancelled before it started' });
    return;
  }
  const startTime = Date.now();
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE; // only there so an Electron host's binary runs us as Node
  env.HPC_JUPYTER_JOB_ID = job.id;
  env.HPC_JUPYTER_NODES = hostname();
  env.HPC_JUPYTER_SCHEDULER = 'local';
  let walltimeEnd;
  if (job.walltimeSeconds !== undefined) {
    walltimeEnd = Math.floor((startTime + job.walltimeSeconds * 1000) / 1000);
    env.HPC_JUPYTER_WALLTIME_END = String(walltimeEnd);
  }
  let out;
  try {
    out = fs.openSync(job.output, 'w', 0o600);
  } catch (error) {
    finish({ state: 'failed', code: null, signal: null, reason: 'cannot open the output file: ' + error.message });
    return;
  }
  child = spawn(join(dir, 'script'), [], { cwd: job.workdir, detached: true, stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  child.on('error', (error) => {
    finish({ state: 'failed', code: null, signal: null, reason: 'the job script could not start: ' + error.message });
  });
  if (child.pid === undefined) return; // 'error' follows
  const stat = procStat(child.pid);
  writeJson('started.json', {
    pid: child.pid,
    pgid: child.pid,
    startTicks: stat === undefined ? undefined : stat.startTicks,
    bootId: bootId(),
    startTime: new Date(startTime).toISOString(),
    hostname: hostname(),
    walltimeEnd,
  });
  child.on('exit', (code, signal) => {
    endGroup().then(() => finish(outcome(code, signal)), () => finish(outcome(code, signal)));
  });
  if (cancelAsked()) stop('cancelled'); // asked between the check above and the spawn
  if (job.walltimeSeconds !== undefined) {
    atTime(startTime + job.walltimeSeconds * 1000, () => stop('timed-out'));
  }
}

start();
`;
