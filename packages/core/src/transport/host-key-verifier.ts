/**
 * Decides, during the handshake, whether to trust the key a server presents: known_hosts first,
 * then (for an unknown host only) the user through the prompter, and a recorded answer. A changed
 * or revoked key is always refused; there is deliberately no option to turn checking off.
 */

import {
  HostKeyChangedError,
  HostKeyRevokedError,
  HostKeyUnknownError,
  throwIfAborted,
} from '../errors.js';
import { keyTypeOfBlob, knownHostName } from './known-hosts-parse.js';
import { appendKnownHost, checkHostKey, loadKnownHosts, sha256Fingerprint } from './known-hosts.js';
import type { ResolvedHost } from './ssh-config.js';
import type { SshPrompter } from './ssh-options.js';

export interface HostKeyContext {
  readonly prompter: SshPrompter | undefined;
  /** Keys accepted in this process, by known_hosts name: rekeys and unwritable files need them. */
  readonly accepted: Map<string, Buffer[]>;
  readonly signal: AbortSignal;
  readonly promptStarted: () => void;
  readonly promptEnded: () => void;
  readonly debug?: (message: string) => void;
}

function removeCommand(name: string, file: string): string {
  return `ssh-keygen -R '${name}' -f '${file}'`;
}

/** Resolves when `blob` may be trusted for `host`; rejects with a typed error otherwise. */
export async function verifyHostKey(
  blob: Buffer,
  host: ResolvedHost,
  ctx: HostKeyContext,
): Promise<void> {
  const port = host.port;
  const name = knownHostName(host.knownHostsName, port);
  const files = [...host.userKnownHostsFiles, ...host.globalKnownHostsFiles];
  const entries = await loadKnownHosts(files, ctx.signal);
  const verdict = checkHostKey(entries, host.knownHostsName, port, blob);
  const type = keyTypeOfBlob(blob) ?? 'unknown';
  const fingerprint = sha256Fingerprint(blob);

  if (verdict.kind === 'known') return;
  if (verdict.kind === 'revoked') {
    const { file, line } = verdict.entry;
    throw new HostKeyRevokedError(
      `The ${type} host key of ${name} (${fingerprint}) is marked @revoked in ${file} line ${line}; ` +
        'the connection was refused.',
      host.hostname,
      { hint: "Ask the cluster's administrators which host key is current." },
    );
  }
  if (verdict.kind === 'changed') {
    const { file, line } = verdict.entry;
    throw new HostKeyChangedError(
      `WARNING: the host key of ${name} has CHANGED. The server now presents the ${type} key ` +
        `${fingerprint}, which differs from the key recorded in ${file} line ${line}. Someone ` +
        'may be intercepting the connection, or the host keys were replaced; the connection was ' +
        'refused.',
      host.hostname,
      {
        hint:
          `Verify the new fingerprint with the cluster's administrators. Only if it matches, ` +
          `remove line ${line} from ${file} (${removeCommand(name, file)}) and connect again.`,
      },
    );
  }

  if (ctx.accepted.get(name)?.some((k) => k.equals(blob)) === true) return;
  const where = `${host.knownHostsName}:${port}`;
  if (ctx.prompter === undefined) {
    throw new HostKeyUnknownError(
      `The host key of ${where} is not known (${type} ${fingerprint}) and nobody can be asked.`,
      host.hostname,
      {
        hint: `Connect once with \`ssh -p ${port} ${host.hostname}\`, check the fingerprint, accept it.`,
      },
    );
  }
  throwIfAborted(ctx.signal);
  ctx.promptStarted();
  let trusted: boolean;
  try {
    trusted = await ctx.prompter.unknownHostKey(
      { host: host.knownHostsName, port, keyType: type, fingerprint },
      ctx.signal,
    );
  } finally {
    ctx.promptEnded();
  }
  throwIfAborted(ctx.signal);
  if (!trusted) {
    throw new HostKeyUnknownError(
      `The host key of ${where} (${type} ${fingerprint}) is not known and was not accepted.`,
      host.hostname,
      { hint: "Compare the fingerprint with the one your cluster's documentation publishes." },
    );
  }
  ctx.accepted.set(name, [...(ctx.accepted.get(name) ?? []), blob]);
  const file = host.userKnownHostsFiles[0];
  if (file === undefined) return;
  try {
    await appendKnownHost(file, host.knownHostsName, port, blob, {
      hash: host.hashKnownHosts,
      signal: ctx.signal,
    });
  } catch (err) {
    // The user said yes; failing to remember it only means being asked again next time.
    ctx.debug?.(`could not record host key in ${file}: ${String(err)}`);
  }
}
