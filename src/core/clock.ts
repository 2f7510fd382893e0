/** An injectable clock, so that stages and tests do not read global time directly. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** A monotonic high-resolution time in milliseconds (for durations). */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
