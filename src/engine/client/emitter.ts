/** A tiny typed event emitter that works in Node and browsers. Listener errors are isolated. */
export class Emitter<Events extends Record<string, (...args: never[]) => void>> {
  readonly #listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const l of set) {
      try {
        (l as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (err) {
        // A faulty listener must not break sync; report it asynchronously like an uncaught error.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
