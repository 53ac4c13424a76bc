/**
 * Second-user attacks A7 and A8 of issue 14 (findings 8 and 6), against the test cluster:
 *
 * - A7: workdirs on a shared scratch directory the cluster's nodes see: one hpcjother made
 *   (0777) and one of ours left 0777 are refused by `start` and by `doctor`, with what to run,
 *   and nothing is written into them; one of ours at 0755 is closed to 0700, the agent's log
 *   says so, doctor shows the real owner and mode, and a JupyterLab session runs there.
 * - A8: while `hpc-jupyter open ID` runs with a fake browser (an `xdg-open` first on PATH that
 *   records its argv and sleeps 3 s), hpcjother reads every /proc/PID/cmdline and environ it can:
 *   the token is in none of them, and what the browser got still leads into the session.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOther, asRoot, OWNER, uidOf, until } from './as-user.js';
import {
  cli,
  privateAgentEnv,
  stopPrivateAgent,
  testCluster,
  type TestCluster,
} from './support.js';

/** The test cluster's own settings for a cluster entry with another workdir. */
function clusterYaml(cluster: TestCluster, name: string, workdir: string): string {
  const c = cluster.testlab;
  const ssh = c.ssh;
  if (ssh === undefined) throw new Error('testlab has no ssh settings');
  return [
    `  ${name}:`,
    '    scheduler: slurm',
    '    ssh:',
    `      host: ${ssh.host}`,
    `      port: ${String(ssh.port ?? 22)}`,
    `      user: ${ssh.user ?? OWNER}`,
    `      identityFile: ${String(ssh.identityFile)}`,
    `      knownHostsFile: ${String(ssh.knownHostsFile)}`,
    `    workdir: ${workdir}`,
    `    python: ${c.python ?? 'python3'}`,
    '    defaults:',
    '      partition: debug',
    '',
  ].join('\n');
}

describe('A7 and A8: workdirs others can touch, and `open` with a browser', () => {
  let cluster: TestCluster;
  let env: Record<string, string>;
  let scratch: string;
  let ownerUid: number;

  beforeAll(async () => {
    cluster = await testCluster();
    ownerUid = await uidOf(OWNER);
    // A shared scratch filesystem of the cluster (the nodes see this machine's files).
    scratch = mkdtempSync('/var/tmp/hpcj-a7-');
    chmodSync(scratch, 0o1777);
    const dir = mkdtempSync('/tmp/hpcj-a7-config-');
    const configFile = join(dir, 'clusters.yaml');
    writeFileSync(
      configFile,
      `clusters:\n${clusterYaml(cluster, 'a7-theirs', join(scratch, 'theirs'))}${clusterYaml(cluster, 'a7-open', join(scratch, 'open'))}${clusterYaml(cluster, 'a7-readable', join(scratch, 'readable'))}`,
    );
    env = privateAgentEnv(configFile);
    expect((await asOther(['mkdir', '-m', '0777', join(scratch, 'theirs')])).code).toBe(0);
    for (const [name, mode] of [
      ['open', 0o777],
      ['readable', 0o755],
    ] as const) {
      mkdirSync(join(scratch, name));
      chownSync(join(scratch, name), ownerUid, ownerUid);
      chmodSync(join(scratch, name), mode);
    }
  }, 60_000);

  afterAll(async () => {
    await stopPrivateAgent(env);
    await asRoot(['rm', '-rf', scratch]);
  }, 120_000);

  it("refuses hpcjother's workdir, in start and in doctor, and writes nothing there", async () => {
    const theirs = join(scratch, 'theirs');
    const started = await cli(
      ['start', 'jupyter', '--cluster', 'a7-theirs', '--hours', '0.2'],
      env,
    );
    expect(started.code).not.toBe(0);
    expect(started.stderr).toContain(`Refusing to use ${theirs} on ${OWNER}@`);
    expect(started.stderr).toMatch(/belongs to hpcjother \(uid \d+\), not to you/);
    expect(started.stderr).toContain(
      'Choose another work directory: set `workdir` for cluster a7-theirs',
    );
    expect(readdirSync(theirs)).toEqual([]);
    const doctor = await cli(['doctor', '--cluster', 'a7-theirs'], env);
    expect(doctor.code).not.toBe(0);
    expect(doctor.stdout).toMatch(
      /FAIL {2}work directory\n {6}Refusing to use .*belongs to hpcjother/,
    );
  }, 120_000);

  it('refuses our own workdir left 0777, saying to chmod it, and leaves it as it was', async () => {
    const open = join(scratch, 'open');
    const started = await cli(['start', 'jupyter', '--cluster', 'a7-open', '--hours', '0.2'], env);
    expect(started.code).not.toBe(0);
    expect(started.stderr).toContain(`its mode is 0777, so other users may write into it`);
    expect(started.stderr).toContain(`run \`chmod 700 ${open}\``);
    expect(statSync(open).mode & 0o777).toBe(0o777);
    expect(readdirSync(open)).toEqual([]);
    const doctor = await cli(['doctor', '--cluster', 'a7-open'], env);
    expect(doctor.code).not.toBe(0);
    expect(doctor.stdout).toContain(`chmod 700 ${open}`);
  }, 120_000);

  it('closes our 0755 workdir to 0700 and says so; the session runs there, and `open` shows no one the token (A8)', async () => {
    const readable = join(scratch, 'readable');
    // --no-wait, then waiting here: the shared test cluster may be busy with other tests' jobs.
    const started = await cli(
      ['start', 'jupyter', '--cluster', 'a7-readable', '--hours', '0.5', '--no-wait', '--json'],
      env,
    );
    expect(started.code, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as { id: string }).id;
    await until(
      `session ${id} ready`,
      async () => {
        await new Promise((r) => setTimeout(r, 2000));
        const status = await cli(['status', id, '--json'], env);
        const state = (JSON.parse(status.stdout) as { state: string }).state;
        if (['failed', 'cancelled', 'completed', 'timed-out'].includes(state)) {
          throw new Error(`session ${id} ended: ${status.stdout}`);
        }
        return state === 'ready';
      },
      900_000,
    );
    const access = await cli(['open', id, '--json'], env);
    expect(access.code, access.stderr).toBe(0);
    const out = JSON.parse(access.stdout) as { url: string; token: string };
    const { token } = out;
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(statSync(readable).mode & 0o777).toBe(0o700);
    expect(statSync(join(readable, 'sessions')).mode & 0o777).toBe(0o700);
    const log = readFileSync(join(env['XDG_STATE_HOME'] ?? '', 'hpc-jupyter', 'agent.log'), 'utf8');
    expect(log).toContain(`${readable} on ${OWNER}@`);
    expect(log).toContain('was readable by others (mode 0755); set it to 0700');
    const doctor = await cli(['doctor', '--cluster', 'a7-readable'], env);
    expect(doctor.stdout).toContain(
      `ok    work directory ${readable} is writable (owner ${OWNER}, mode 0700)`,
    );

    // A8: a fake browser that records what it was given and stays up for 3 s.
    const bin = mkdtempSync('/tmp/hpcj-a8-bin-');
    const record = join(bin, 'argv');
    writeFileSync(
      join(bin, 'xdg-open'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > ${record}.tmp && mv ${record}.tmp ${record}\nsleep 3\n`,
      { mode: 0o755 },
    );
    chmodSync(bin, 0o755);
    // hpcjother reads every cmdline and environ it can, over and over, for 8 s; the token comes
    // on stdin (never argv). It also reports whether it saw the fake browser, so the scan is
    // known to have overlapped it.
    const scanner = asOther(
      [
        'python3',
        '-c',
        [
          'import os, sys, time',
          'token = sys.stdin.readline().strip().encode()',
          'hits, seen, reads, end = set(), False, 0, time.time() + 8',
          'while time.time() < end:',
          '    for pid in os.listdir("/proc"):',
          '        if not pid.isdigit(): continue',
          '        for part in ("cmdline", "environ"):',
          '            try:',
          '                data = open("/proc/%s/%s" % (pid, part), "rb").read()',
          '            except OSError:',
          '                continue',
          '            reads += 1',
          '            if token in data: hits.add("%s/%s" % (pid, part))',
          `            if part == "cmdline" and ${JSON.stringify(bin)}.encode() in data: seen = True`,
          'print("hits", len(hits), sorted(hits)); print("saw-browser", seen); print("reads", reads)',
        ].join('\n'),
      ],
      `${token}\n`,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const opened = await cli(['open', id], {
      ...env,
      DISPLAY: ':99',
      PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    });
    expect(opened.code, opened.stderr).toBe(0);
    const scan = await scanner;
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.stdout).toContain('hits 0 []');
    expect(scan.stdout).toContain('saw-browser True');
    expect(Number(/reads (\d+)/.exec(scan.stdout)?.[1])).toBeGreaterThan(100);

    // What the browser got: a file:// page, private, that leads into the session with the token.
    await until('the fake browser', () => existsSync(record), 10_000);
    const args = readFileSync(record, 'utf8').trim().split('\n');
    expect(args).toHaveLength(1);
    expect(args[0]).not.toContain(token);
    expect(args[0]).toMatch(/^file:\/\//);
    const page = fileURLToPath(args[0] ?? '');
    expect(statSync(page).mode & 0o777).toBe(0o600);
    expect(statSync(join(page, '..')).mode & 0o777).toBe(0o700);
    expect((await asOther(['cat', page])).code).not.toBe(0);
    const target = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(
      readFileSync(page, 'utf8'),
    )?.[1];
    expect(target).toBe(
      `${out.url.replace(/lab\?token=.*$/, '')}lab?token=${encodeURIComponent(token)}`,
    );
    const res = await fetch((target ?? '').replace(/&amp;/g, '&'), { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('jupyter-config-data');
  }, 1_200_000);
});
