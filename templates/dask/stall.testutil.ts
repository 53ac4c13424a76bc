// For the engine templates' local tests: makes one "node" of a local job stall, by pointing the
// job's Python at a wrapper that, for `-m COMMAND` on that node (a module, and perhaps its first
// arguments), prints a line and sleeps.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { VENV_PYTHON, type Session } from '../runtime/job-harness.js';

export function stallingPython(session: Session, command: string, node: string): void {
  const wrapper = path.join(session.dir, 'stalling-python');
  writeFileSync(
    wrapper,
    [
      '#!/bin/bash',
      `if [ "\${HPCJ_NODE_NAME:-}" = ${node} ] && [[ " $* " == *" -m ${command} "* ]]; then`,
      `  echo "engine on ${node} is stuck (test)"`,
      '  exec sleep 1000',
      'fi',
      `exec ${VENV_PYTHON} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o700);
  const envFile = path.join(session.dir, 'job.env');
  const before = readFileSync(envFile, 'utf8');
  const text = before.replace(/^export HPCJ_PYTHON=.*$/m, `export HPCJ_PYTHON='${wrapper}'`);
  if (text === before) throw new Error(`no HPCJ_PYTHON line in ${envFile}`);
  writeFileSync(envFile, text, { mode: 0o600 });
}
