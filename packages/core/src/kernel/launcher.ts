/**
 * The remote-kernel launcher (DESIGN.md, "The remote kernel"): a process Jupyter starts like any
 * local kernel. It binds the connection file's five ports first, answers as a kernel while the
 * batch job waits (kernel_info, heartbeats, status; execute requests are held and shown a waiting
 * message that updates in place), and once the kernel in the job answers through the agent's
 * tunnels, forwards every message unchanged both ways: the job's kernel uses this connection
 * file's key. Shutdown cancels the job; a restart keeps it (the job restarts its kernel and the
 * next launcher takes the session over); a job that ends or a kernel that dies ends this process
 * with a message, so Jupyter offers a restart. Every message, from a client or from the kernel,
 * is acted on, held or forwarded only once its signature is the connection key's; others are
 * dropped with a line in the log, as ipykernel does. Owns the sockets, the remote connection and
 * the session's lease (through the backend).
 */
import type { Environment } from '../config/paths.js';
import { isFinal } from '../schedulers/types.js';
import type { SessionRecord } from '../sessions/types.js';
import type { ConnectionInfo } from './connection-info.js';
import {
  disconnectedText,
  jobEndedText,
  jobLabel,
  kernelDiedText,
  reconnectedText,
  startedText,
  type WaitView,
  waitingText,
} from './kernel-messages.js';
import { KernelSockets, type RouterChannel } from './kernel-sockets.js';
import { KernelStateFile } from './kernel-state.js';
import { KernelVoice } from './kernel-voice.js';
import { CellNotices } from './cell-notices.js';
import { WaitingRoom } from './waiting-room.js';
import { RemoteKernel, type RemoteEndpoints } from './remote-kernel.js';
import type { LauncherBackend } from './session-link.js';
import { describe, retry, withTimeout } from './launcher-util.js';
import { LogLimiter } from './log-limiter.js';
import { standInAnswer } from './stand-in.js';
import {
  type MessageHeader,
  MessageFactory,
  parseHeader,
  parseJson,
  Signer,
  splitFrames,
  type WireFrames,
} from './wire.js';

/** How long the job is kept for the next launcher after a restart or a kernel death. */
export const RESTART_HOLD_SECONDS = 60;
/** How often a silent kernel's tunnels are asked for again (they move with a new agent). */
const TUNNEL_CHECK_MS = 5000;
/** How long a ready session's kernel may take to answer before we give up on it. */
const CONNECT_TIMEOUT_MS = 180_000;

type Phase = 'submitting' | 'waiting' | 'restarting' | 'connecting' | 'forwarding' | 'failed';

export interface LauncherOptions {
  readonly profile: string;
  readonly connectionFile: string;
  readonly info: ConnectionInfo;
  readonly env: Environment;
  readonly version: string;
  /** Where launchers leave state for their restarted selves. */
  readonly stateDir: string;
  /** A line for Jupyter's log (the launcher's stderr). */
  readonly log: (line: string) => void;
  /** Ends the process. */
  readonly exit: (code: number) => void;
  /** The agent side; loaded after the ports are bound. */
  readonly backend: () => Promise<LauncherBackend>;
}

export class KernelLauncher {
  private phase: Phase = 'submitting';
  private readonly signer: Signer;
  private readonly factory: MessageFactory;
  private readonly stateFile: KernelStateFile;
  private sockets!: KernelSockets;
  private voice!: KernelVoice;
  private backend: LauncherBackend | undefined;
  private record: SessionRecord | undefined;
  private remote: RemoteKernel | undefined;
  private started: Promise<void> = Promise.resolve();
  private waitSince = new Date();
  private failure: string | undefined;
  /** The remote kernel's session before a restart: its answers do not mean the new one is up. */
  private staleSession: string | undefined;
  /** That kernel was not asked to restart: ask it. */
  private restartStale = false;
  /** The session of the remote kernel we are connected to. */
  private remoteSession: string | undefined;
  private notices!: CellNotices;
  private room!: WaitingRoom;
  private connecting = false;
  /** Date.now() when the heartbeat went silent; undefined while it beats. */
  private silentSince: number | undefined;
  private ending = false;
  private onShutdownReply: (() => void) | undefined;
  /** Messages dropped for a bad signature or form, logged at most once a while per kind. */
  private readonly invalid = new LogLimiter((line) => {
    this.log(line);
  });

  private constructor(private readonly options: LauncherOptions) {
    this.signer = new Signer(options.info.key, options.info.signatureScheme);
    this.factory = new MessageFactory(this.signer);
    this.stateFile = new KernelStateFile(
      options.stateDir,
      options.connectionFile,
      options.info.key,
    );
  }

  /** Binds the ports (the first thing, and fast), then starts the session in the background. */
  static async start(options: LauncherOptions): Promise<KernelLauncher> {
    const launcher = new KernelLauncher(options);
    launcher.sockets = await KernelSockets.bind(options.info, {
      onMessage: (channel, frames) => {
        launcher.onMessage(channel, frames);
      },
    });
    launcher.voice = new KernelVoice(launcher.factory, launcher.sockets);
    launcher.notices = new CellNotices(launcher.voice, (line) => {
      launcher.log(line);
    });
    launcher.room = new WaitingRoom(launcher.voice, () => waitingText(launcher.view(), new Date()));
    launcher.voice.status(undefined, 'starting');
    launcher.started = launcher.run();
    return launcher;
  }

  /** SIGTERM: leave without cancelling; the agent does that after the grace unless held. */
  async terminate(): Promise<void> {
    this.ending = true;
    await this.exit(143);
  }

  // ---- the session --------------------------------------------------------------------------

  private async run(): Promise<void> {
    try {
      if (this.options.info.key === '') {
        throw new Error(
          'the connection file has no key; the remote kernel needs signed messages (use a Jupyter that writes a key)',
        );
      }
      const backend = await this.options.backend();
      this.backend = backend;
      void this.stateFile.prune();
      const saved = await this.stateFile.read();
      let record =
        saved?.profile === this.options.profile ? await backend.live(saved.sessionId) : undefined;
      if (record !== undefined) {
        this.staleSession = saved?.remoteSession;
        // Killed before it could ask (Jupyter's forced restart): the old kernel still runs.
        this.restartStale = saved?.remoteSession !== undefined && saved.restarting !== true;
        this.waitSince = new Date();
        this.phase = record.state === 'ready' ? 'restarting' : 'waiting';
        this.log(`taking over session ${record.id} (${jobLabel(backend.scheduler, record)})`);
      } else {
        record = await backend.start(this.options.info.key);
        this.phase = 'waiting';
        this.log(
          `session ${record.id}: ${jobLabel(backend.scheduler, record)} on ${backend.clusterName}`,
        );
      }
      this.record = record;
      await this.stateFile.write({
        sessionId: record.id,
        profile: this.options.profile,
        ...(this.staleSession === undefined ? {} : { remoteSession: this.staleSession }),
        ...(saved?.restarting === true ? { restarting: true } : {}),
      });
      await backend.lease(record.id);
      if (this.ending) return;
      backend.follow(record.id, (r) => {
        this.onRecord(r);
      });
      this.onRecord(record);
    } catch (error) {
      this.fail(error);
    }
  }

  private onRecord(record: SessionRecord): void {
    if (this.ending) return;
    this.record = record;
    if (isFinal(record.state)) {
      void this.jobEnded(record);
      return;
    }
    this.notices.watchWalltime(record, this.backend?.scheduler ?? '', () => this.record ?? record);
    if (record.state === 'ready' && !this.connecting && this.remote === undefined) {
      void this.connect(record);
    }
    this.room.refresh();
  }

  private async connect(record: SessionRecord): Promise<void> {
    const backend = this.backend;
    if (backend === undefined) return;
    this.connecting = true;
    if (this.phase !== 'restarting') this.phase = 'connecting';
    try {
      const endpoints = await retry(() => backend.endpoints(record.id), 3, 2000);
      const remote = this.remoteAt(endpoints);
      this.remote = remote;
      const { session } = await remote.establish({
        timeoutMs: CONNECT_TIMEOUT_MS,
        restartStale: this.restartStale,
        ...(this.staleSession === undefined ? {} : { staleSession: this.staleSession }),
      });
      if (this.ending) return;
      this.remoteSession = session;
      await this.stateFile
        .write({ sessionId: record.id, profile: this.options.profile, remoteSession: session })
        .catch((error: unknown) => {
          this.problem(error);
        });
      this.log(`connected to the kernel in ${jobLabel(backend.scheduler, record)}`);
      this.flush();
      this.watch(remote);
    } catch (error) {
      if (this.ending) return;
      this.problem(error);
      await this.kernelDied();
    } finally {
      this.connecting = false;
    }
  }

  private remoteAt(endpoints: RemoteEndpoints): RemoteKernel {
    return new RemoteKernel({
      endpoints,
      factory: this.factory,
      onReply: (channel, identity, frames) => {
        this.fromKernel(channel, identity, frames);
      },
      onIopub: (frames) => {
        this.fromKernelIopub(frames);
      },
    });
  }

  private watch(remote: RemoteKernel): void {
    remote.watchHeartbeat({
      onSilent: (ms) => {
        this.onSilent(ms);
      },
      onBack: () => {
        void this.onBeatBack(remote);
      },
    });
  }

  /**
   * While the heartbeat is silent, asks the agent every few seconds where the kernel's tunnels
   * are: an agent that was killed and started again (by this launcher's lease) has new ones, and
   * the old ports answer nothing. The connection moves to the new ones, with what it holds.
   */
  private async followTunnels(since: number): Promise<void> {
    const backend = this.backend;
    const id = this.record?.id;
    if (backend === undefined || id === undefined) return;
    while (this.silentSince === since && !this.isEnding()) {
      await new Promise((resolve) => setTimeout(resolve, TUNNEL_CHECK_MS));
      if (this.silentSince !== since || this.isEnding()) return;
      const fresh = await backend.endpoints(id).catch(() => undefined);
      const old = this.remote;
      if (fresh === undefined || old === undefined || sameEndpoints(old.endpoints, fresh)) continue;
      if (this.silentSince !== since || this.isEnding()) return;
      this.log("the kernel's tunnels moved (a new agent): connecting through the new ones");
      old.retarget(fresh);
    }
  }

  /**
   * The heartbeat went silent: the network or SSH is down, or the kernel died. Neither is known
   * yet, so nothing ends: messages keep going to the connectors (which hold them), the cells are
   * told, and the answer comes from the job (its end arrives as a final record) or from the first
   * beat back (the same kernel, or a new one the job started).
   */
  private onSilent(silentForMs: number): void {
    if (this.ending || this.silentSince !== undefined) return;
    this.silentSince = Date.now() - silentForMs;
    this.log(`no heartbeat from the kernel for ${Math.round(silentForMs / 1000)} s; reconnecting`);
    this.tellEveryone(disconnectedText(this.backend?.scheduler ?? '', this.record));
    void this.followTunnels(this.silentSince);
  }

  /** Beats again: the same kernel (carry on) or one the job restarted (the old one died). */
  private async onBeatBack(remote: RemoteKernel): Promise<void> {
    const since = this.silentSince;
    if (since === undefined || this.ending) return;
    const session = await this.sessionOf(remote);
    if (this.isEnding() || this.silentSince !== since) return;
    this.silentSince = undefined;
    if (session === undefined || session === this.remoteSession) {
      const seconds = (Date.now() - since) / 1000;
      this.log(`the kernel answers again after ${seconds.toFixed(1)} s`);
      this.tellEveryone(reconnectedText(seconds));
      return;
    }
    this.log('the kernel answers with a new session: the old one died and the job restarted it');
    await this.kernelDied();
  }

  /** The answering kernel's session, asked a few times (undefined when it never says). */
  private async sessionOf(remote: RemoteKernel): Promise<string | undefined> {
    for (let tries = 0; tries < 10 && !this.isEnding(); tries++) {
      const session = await remote.currentSession(3000);
      if (session !== undefined) return session;
    }
    return undefined;
  }

  /** Read through a call: it changes while we wait. */
  private isEnding(): boolean {
    return this.ending;
  }

  /** The kernel answers: everything held goes to it, in order, and from now on all messages. */
  private flush(): void {
    const view = this.view();
    const now = new Date();
    this.phase = 'forwarding';
    for (const m of this.room.drain()) {
      if (m.displayId !== undefined) {
        this.voice.display(m.headerFrame, m.displayId, startedText(view, now), true);
      }
      if (m.header.msg_type === 'execute_request') this.beforeExecute(m.headerFrame, m.header);
      this.remote?.forward(m.channel, m.identity, m.frames);
    }
  }

  // ---- messages from clients ----------------------------------------------------------------

  private onMessage(channel: RouterChannel, frames: Buffer[]): void {
    const identity = frames[0];
    if (identity === undefined || frames.length < 2) return;
    const rest = frames.slice(1);
    // Nothing is acted on, held or forwarded before its signature is checked: the ports answer
    // only our own uid, and the key tells Jupyter's messages from anything else that uid runs.
    const parsed = this.parse(rest, channel);
    if (parsed === undefined) return;
    const [m, header] = parsed;
    if (this.phase === 'forwarding' && this.remote !== undefined && !this.ending) {
      this.forward(channel, identity, rest, m, header);
      return;
    }
    if (channel === 'stdin') return; // nobody asked for input yet
    const content = parseJson(m.content);
    if (channel === 'control' && header.msg_type === 'shutdown_request') {
      void this.shutdown(identity, rest, m, content['restart'] === true);
      return;
    }
    if (this.ending) return;
    if (channel === 'control' && header.msg_type === 'interrupt_request') {
      this.interruptHeld(identity, m.header);
      return;
    }
    const answer = standInAnswer(header.msg_type, content, {
      banner: this.banner(),
      version: this.options.version,
    });
    if (answer.kind === 'reply') {
      this.voice.answer(channel, identity, m.header, answer.msgType, answer.content);
      return;
    }
    if (this.phase === 'failed') {
      this.room.refuse(identity, m.header, header, this.failure ?? 'the kernel could not start');
      return;
    }
    this.room.hold({ channel, identity, frames: rest, header, headerFrame: m.header }, content);
  }

  /** A verified message from a client, to the kernel (a shutdown is ours to handle). */
  private forward(
    channel: RouterChannel,
    identity: Buffer,
    rest: Buffer[],
    m: WireFrames,
    header: MessageHeader,
  ): void {
    if (channel === 'control' && header.msg_type === 'shutdown_request') {
      void this.shutdown(identity, rest, m, parseJson(m.content)['restart'] === true);
      return;
    }
    if (channel !== 'stdin' && header.msg_type === 'execute_request') {
      this.beforeExecute(m.header, header);
    }
    this.remote?.forward(channel, identity, rest);
  }

  /** A message from the kernel for a client, passed on unchanged once its signature checks. */
  private fromKernel(channel: RouterChannel, identity: Buffer, frames: Buffer[]): void {
    const parsed = this.parse(frames, `${channel} from the kernel`);
    if (parsed === undefined) return;
    const [m, header] = parsed;
    if (header.msg_type === 'execute_reply' && this.notices.busy) {
      const parent = parseJson(m.parentHeader)['msg_id'];
      if (typeof parent === 'string') this.notices.answered(parent);
    } else if (header.msg_type === 'shutdown_reply' && channel === 'control') {
      this.onShutdownReply?.();
    }
    this.sockets.send(channel, [identity, ...frames]);
  }

  /** The kernel's output, passed on unchanged once its signature checks. */
  private fromKernelIopub(frames: Buffer[]): void {
    if (this.parse(frames, 'iopub from the kernel') === undefined) return;
    this.sockets.send('iopub', frames);
  }

  /**
   * The message split and its header parsed, when its signature is the key's; else undefined,
   * with a line in the log (ipykernel's words for it: "Invalid Message"), at most one a while.
   */
  private parse(frames: Buffer[], where: string): [WireFrames, MessageHeader] | undefined {
    let m: WireFrames;
    try {
      m = splitFrames(frames);
    } catch (error) {
      this.invalid.line(`${where} malformed`, `Invalid Message on ${where}: ${describe(error)}`);
      return undefined;
    }
    if (!this.signer.verify(m)) {
      this.invalid.line(
        `${where} signature`,
        `Invalid Message on ${where}: its signature is not the connection key's; dropped`,
      );
      return undefined;
    }
    try {
      return [m, parseHeader(m.header)];
    } catch (error) {
      this.invalid.line(`${where} header`, `Invalid Message on ${where}: ${describe(error)}`);
      return undefined;
    }
  }

  private beforeExecute(headerFrame: Buffer, header: MessageHeader): void {
    this.notices.executing(header.msg_id, headerFrame);
  }

  /** Interrupt while waiting: the held execute requests are answered as interrupted. */
  private interruptHeld(identity: Buffer, headerFrame: Buffer): void {
    const job = jobLabel(this.backend?.scheduler ?? '', this.record);
    this.room.interrupt(`interrupted while waiting for ${job}, which stays in the queue`);
    this.voice.answer('control', identity, headerFrame, 'interrupt_reply', { status: 'ok' });
  }

  // ---- endings ------------------------------------------------------------------------------

  private async shutdown(
    identity: Buffer,
    rest: Buffer[],
    m: WireFrames,
    restart: boolean,
  ): Promise<void> {
    const answer = (): void => {
      this.voice.answer('control', identity, m.header, 'shutdown_reply', { status: 'ok', restart });
    };
    if (this.ending) {
      answer();
      return;
    }
    this.ending = true;
    this.stopTimers();
    if (restart) {
      await this.keepForNextLauncher();
      if (this.phase === 'forwarding' && this.remote !== undefined) {
        // The kernel in the job answers and exits; the job starts it again on the same ports.
        const replied = new Promise<boolean>((resolve) => {
          this.onShutdownReply = () => {
            resolve(true);
          };
          setTimeout(() => {
            resolve(false);
          }, 3000);
        });
        this.remote.forward('control', identity, rest);
        if (!(await replied)) answer();
      } else {
        answer();
      }
      this.log('restarting: the job is kept for the next launcher');
      await this.exit(0);
      return;
    }
    // A shutdown ends the job; one still being submitted is cancelled once it has an id.
    await withTimeout(this.started, 30_000);
    const id = this.record?.id;
    if (id !== undefined && this.backend !== undefined) {
      await withTimeout(this.backend.stop(id), 10_000).catch((e: unknown) => {
        this.problem(e);
      });
      this.log(`shut down: cancelled ${jobLabel(this.backend.scheduler, this.record)}`);
    }
    await this.stateFile.remove();
    answer();
    await this.exit(0);
  }

  private async jobEnded(record: SessionRecord): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    await this.stateFile.remove();
    this.tellEveryone(jobEndedText(this.backend?.scheduler ?? '', record));
    await this.exit(1);
  }

  /**
   * The kernel is known gone while its job runs (it did not answer at all, or the job restarted
   * it): the job keeps (or starts) one for the next launcher.
   */
  private async kernelDied(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    await this.keepForNextLauncher();
    this.tellEveryone(kernelDiedText(this.backend?.scheduler ?? '', this.record));
    await this.exit(1);
  }

  /** Keeps the job for the launcher Jupyter starts next, and tells it the kernel restarts. */
  private async keepForNextLauncher(): Promise<void> {
    const id = this.record?.id;
    if (id === undefined) return;
    await this.backend?.keepFor(id, RESTART_HOLD_SECONDS).catch((e: unknown) => {
      this.problem(e);
    });
    await this.stateFile
      .write({
        sessionId: id,
        profile: this.options.profile,
        ...(this.remoteSession === undefined ? {} : { remoteSession: this.remoteSession }),
        restarting: true,
      })
      .catch((e: unknown) => {
        this.problem(e);
      });
  }

  private fail(error: unknown): void {
    this.phase = 'failed';
    this.failure = `hpc-jupyter could not start the kernel's job: ${describe(error)}`;
    this.log(this.failure);
    void this.stateFile.remove();
    this.room.failAll(this.failure);
  }

  /** Says `text` on every running or waiting cell, or to anyone listening if there is none. */
  private tellEveryone(text: string): void {
    this.notices.tellEveryone(text, this.room.executeParents());
  }

  private async exit(code: number): Promise<void> {
    this.stopTimers();
    const drained = Promise.all([this.sockets.drained(), this.remote?.drained()]);
    await withTimeout(drained, 1000).catch(() => undefined);
    // Queued is not sent: give the last replies a moment on the wire.
    await new Promise((resolve) => setTimeout(resolve, 150));
    this.backend?.close();
    this.remote?.close();
    this.sockets.close();
    this.options.exit(code);
  }

  // ---- the waiting message ------------------------------------------------------------------

  private view(): WaitView {
    const prompt = this.backend?.pendingPrompt?.();
    return {
      phase:
        this.phase === 'restarting'
          ? 'restarting'
          : this.record === undefined
            ? 'submitting'
            : 'waiting',
      cluster: this.backend?.clusterName ?? '',
      scheduler: this.backend?.scheduler ?? '',
      since: this.waitSince,
      ...(this.record === undefined ? {} : { record: this.record }),
      ...(prompt === undefined ? {} : { prompt }),
    };
  }

  private stopTimers(): void {
    this.room.stop();
    this.notices.stop();
  }

  private banner(): string {
    const name = this.backend?.displayName ?? this.options.profile;
    const where = this.backend === undefined ? '' : ` on ${this.backend.clusterName}`;
    return `hpc-jupyter: ${name}, a kernel in a batch job${where}`;
  }

  private log(line: string): void {
    this.options.log(line);
  }

  private problem(error: unknown): void {
    this.log(`problem: ${describe(error)}`);
  }
}

function sameEndpoints(a: RemoteEndpoints, b: RemoteEndpoints): boolean {
  return (Object.keys(a) as (keyof RemoteEndpoints)[]).every(
    (channel) => a[channel] === b[channel],
  );
}
