/**
 * The waiting message on each held execute request: a display with its own display id, updated
 * in place (update_display_data) every second while the job waits, only when its text changed.
 * Owns the update timer.
 */
import type { HoldQueue } from './hold-queue.js';
import type { KernelVoice } from './kernel-voice.js';

const UPDATE_MS = 1000;

export class WaitingDisplays {
  private timer: NodeJS.Timeout | undefined;
  /** The text last sent, so an update goes out only when it says something new. */
  private shown: string | undefined;

  constructor(
    private readonly voice: KernelVoice,
    private readonly held: HoldQueue,
    private readonly text: () => string,
  ) {}

  /** Shows the waiting message on a request just held, and keeps it up to date. */
  show(headerFrame: Buffer, displayId: string): void {
    this.voice.display(headerFrame, displayId, this.text());
    this.timer ??= setInterval(() => {
      this.refresh();
    }, UPDATE_MS);
  }

  /** Updates every waiting message now (the job's state changed). */
  refresh(): void {
    const waiting = this.held.list().filter((m) => m.displayId !== undefined);
    if (waiting.length === 0) {
      this.stop();
      return;
    }
    const text = this.text();
    if (text === this.shown) return;
    this.shown = text;
    for (const m of waiting) this.voice.display(m.headerFrame, m.displayId as string, text, true);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
