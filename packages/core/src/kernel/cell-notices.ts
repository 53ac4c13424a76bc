/**
 * Messages for the notebook that are about the job, not about a cell (the walltime is near, the
 * job ended, the kernel died): shown on the cells that run, or on the next one to run when none
 * does. Tracks which forwarded execute requests are still running (only signed ones reach it:
 * the launcher checks first), and owns the walltime timer.
 */
import type { SessionRecord } from '../sessions/types.js';
import { walltimeEnd, walltimeWarningText, warningLeadMs } from './kernel-messages.js';
import type { KernelVoice } from './kernel-voice.js';

/**
 * Execute requests tracked at most: "Run all" on a long notebook queues hundreds; a reply lost
 * (the kernel died mid-cell) must not keep its request forever. The oldest goes first.
 */
export const MAX_RUNNING = 10_000;

export class CellNotices {
  /** Execute requests forwarded and not answered yet, by msg_id: their header frames. */
  private readonly running = new Map<string, Buffer>();
  /** For the next execute request (nothing was running when they came). */
  private pending: string[] = [];
  private walltimeTimer: NodeJS.Timeout | undefined;
  private walltimeKey: string | undefined;

  constructor(
    private readonly voice: KernelVoice,
    private readonly log: (line: string) => void,
  ) {}

  get busy(): boolean {
    return this.running.size > 0;
  }

  /** An execute request goes to the kernel: it may show what was waiting to be said. */
  executing(msgId: string, headerFrame: Buffer): void {
    if (this.running.size >= MAX_RUNNING && !this.running.has(msgId)) {
      const oldest = this.running.keys().next();
      if (oldest.done !== true) this.running.delete(oldest.value);
    }
    this.running.set(msgId, headerFrame);
    for (const text of this.pending.splice(0)) this.voice.stream(headerFrame, 'stderr', text);
  }

  answered(msgId: string): void {
    this.running.delete(msgId);
  }

  /** Says `text` on the running cells, or on the next cell to run. */
  notice(text: string): void {
    this.log(text.trim());
    if (this.running.size === 0) {
      this.pending.push(text);
      return;
    }
    for (const parent of this.running.values()) this.voice.stream(parent, 'stderr', text);
  }

  /** Says `text` on every running cell and on `alsoTo`, or to anyone listening if none. */
  tellEveryone(text: string, alsoTo: readonly Buffer[] = []): void {
    this.log(text.trim());
    const parents = [...this.running.values(), ...alsoTo];
    if (parents.length === 0) this.voice.stream(undefined, 'stderr', text);
    for (const parent of parents) this.voice.stream(parent, 'stderr', text);
  }

  /** (Re)schedules the warning before the job's walltime, from its latest record. */
  watchWalltime(record: SessionRecord, scheduler: string, latest: () => SessionRecord): void {
    const end = walltimeEnd(record);
    if (end === undefined) return;
    const key = `${record.id}@${end.toISOString()}`;
    if (this.walltimeKey === key) return;
    this.walltimeKey = key;
    this.stop();
    const now = Date.now();
    if (end.getTime() <= now) return;
    const delay = Math.max(0, end.getTime() - warningLeadMs(record) - now);
    this.walltimeTimer = setTimeout(() => {
      this.notice(walltimeWarningText(scheduler, latest(), end, new Date()));
    }, delay);
  }

  stop(): void {
    if (this.walltimeTimer !== undefined) clearTimeout(this.walltimeTimer);
    this.walltimeTimer = undefined;
  }
}
