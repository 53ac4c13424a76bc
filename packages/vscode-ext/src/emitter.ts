/**
 * A minimal event emitter for the modules that must not touch `vscode` at run time (the agent
 * connection and the sessions model), shaped like vscode.Event so both kinds compose.
 */

export type Listener<T> = (value: T) => void;

export interface Subscription {
  dispose(): void;
}

export type Event<T> = (listener: Listener<T>) => Subscription;

export class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return {
      dispose: () => {
        this.listeners.delete(listener);
      },
    };
  };

  fire(value: T): void {
    // A copy: a listener may unsubscribe (or subscribe) while being called.
    for (const listener of [...this.listeners]) listener(value);
  }

  dispose(): void {
    this.listeners.clear();
  }
}
