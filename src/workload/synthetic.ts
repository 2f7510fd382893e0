import { SyncPilotError } from '../core/errors.ts';
import { actorId, isValidId } from '../core/ids.ts';
import type { Transaction } from '../engine/crdt/crdt-doc.ts';
import { ROOT } from '../engine/crdt/types.ts';
import type { ObjId } from '../engine/crdt/types.ts';
import { createPrng } from './prng.ts';
import type { Prng } from './prng.ts';
import { ReplicaSimulator } from './replica-sim.ts';
import type { ConvertedTrace } from './types.ts';

/** The root key of the shared map whose fields the agents write concurrently. */
export const SYNTHETIC_MAP_KEY = 'meta';
/** The root key of the shared counter. */
export const SYNTHETIC_COUNTER_KEY = 'counter';

/** Options of {@link syntheticWorkload}. */
export interface SyntheticOptions {
  /** Number of simulated clients (>= 1). */
  readonly agents: number;
  /** Changes each agent makes (>= 0). */
  readonly changesPerAgent: number;
  /** The PRNG seed; the same options always give identical changes. */
  readonly seed: number;
  /** Shared map fields the agents write; fewer keys, more conflicts. Default 4. */
  readonly sharedKeys?: number;
  /** Chance that an agent first merges another agent's state before a change. Default 0.3. */
  readonly syncProbability?: number;
  /** Actor ids are `<prefix><agent>` and `<prefix>setup`. Default `'synth-'`. */
  readonly actorPrefix?: string;
  /** Root key of the text object. Default `'text'`. */
  readonly textKey?: string;
  /** Time of the first change, ms since the epoch; each step adds 250 ms. Default 2024-01-01. */
  readonly startTime?: number;
}

/** A synthetic workload: a {@link ConvertedTrace} without `endContent`, plus totals to check. */
export interface SyntheticWorkload extends ConvertedTrace {
  readonly endContent: undefined;
  /** The sum of every increment: the converged counter value (nothing lost). */
  readonly counterTotal: number;
}

interface SharedIds {
  readonly text: ObjId;
  readonly map: ObjId;
  readonly counter: ObjId;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz      .,\n';

function randomText(prng: Prng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[prng.int(ALPHABET.length)];
  return out;
}

/**
 * A deterministic workload of concurrent edits for when the real traces are absent: text inserts
 * and deletes, `set`s on a few shared map keys (concurrent ones become real sibling conflicts) and
 * counter increments, made by one simulated replica per agent that merges other agents' states at
 * random moments. Changes are in the same shape as {@link convertTrace}'s, so replicas fed them in
 * any causal interleaving must converge (there is no expected text, only convergence).
 *
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` on out-of-range options.
 */
export function syntheticWorkload(options: SyntheticOptions): SyntheticWorkload {
  const { agents, changesPerAgent, seed } = options;
  const sharedKeys = options.sharedKeys ?? 4;
  const syncProbability = options.syncProbability ?? 0.3;
  const prefix = options.actorPrefix ?? 'synth-';
  const textKey = options.textKey ?? 'text';
  const startTime = options.startTime ?? Date.UTC(2024, 0, 1);
  const bad = (what: string): SyncPilotError => new SyncPilotError('SP_ERR_CONFIG_INVALID', `syntheticWorkload: ${what}`);
  if (!Number.isInteger(agents) || agents < 1) throw bad(`agents must be an integer >= 1, got ${agents}`);
  if (!Number.isInteger(changesPerAgent) || changesPerAgent < 0)
    throw bad(`changesPerAgent must be an integer >= 0, got ${changesPerAgent}`);
  if (!Number.isInteger(sharedKeys) || sharedKeys < 1) throw bad(`sharedKeys must be an integer >= 1, got ${sharedKeys}`);
  if (!(syncProbability >= 0 && syncProbability <= 1)) throw bad(`syncProbability must be in [0, 1], got ${syncProbability}`);
  const actors = Array.from({ length: agents }, (_, i) => actorId(`${prefix}${i}`));
  const setupActor = actorId(`${prefix}setup`);
  for (const actor of [...actors, setupActor]) {
    if (!isValidId(actor)) throw bad(`actorPrefix gives an invalid actor id: ${JSON.stringify(actor)}`);
  }

  const prng = createPrng(seed);
  const keys = Array.from({ length: sharedKeys }, (_, i) => `field${i}`);
  const sim = new ReplicaSimulator<SharedIds>(
    actors,
    setupActor,
    (tx) => ({
      text: tx.makeText(ROOT, textKey),
      map: tx.makeMap(ROOT, SYNTHETIC_MAP_KEY),
      counter: tx.makeCounter(ROOT, SYNTHETIC_COUNTER_KEY),
    }),
    startTime,
  );
  const { ids } = sim;
  const remaining = new Array<number>(agents).fill(changesPerAgent);
  let left = agents * changesPerAgent;
  let counterTotal = 0;

  for (let step = 1; left > 0; step++) {
    // Pick the k-th agent that still has changes to make; keeps the total per agent exact.
    let k = prng.int(left);
    let a = 0;
    while (k >= remaining[a]!) k -= remaining[a++]!;
    if (agents > 1 && prng.next() < syncProbability) {
      // Another replica's whole state is causally closed, so it is a valid merge target.
      const b = (a + 1 + prng.int(agents - 1)) % agents;
      sim.mergeUpTo(a, sim.seenBy(b));
    }
    const textLength = sim.replica(a).length(ids.text); // visible code points
    const opCount = 1 + prng.int(3);
    const made = sim.commit(
      a,
      (tx: Transaction) => {
        let length = textLength;
        for (let i = 0; i < opCount; i++) {
          const roll = prng.next();
          if (roll < 0.45 || (roll < 0.6 && length === 0)) {
            const insert = randomText(prng, 1 + prng.int(8));
            tx.insertText(ids.text, prng.int(length + 1), insert);
            length += insert.length;
          } else if (roll < 0.6) {
            const count = 1 + prng.int(Math.min(4, length));
            tx.deleteText(ids.text, prng.int(length - count + 1), count);
            length -= count;
          } else if (roll < 0.85) {
            const value = prng.next() < 0.5 ? `${actors[a]}#${step}` : prng.int(1000);
            tx.set(ids.map, prng.pick(keys), value);
          } else {
            const by = 1 + prng.int(5);
            tx.increment(ids.counter, by);
            counterTotal += by;
          }
        }
      },
      startTime + step * 250,
    );
    if (made === undefined) throw new SyncPilotError('SP_ERR_INTERNAL', 'a synthetic step made no change');
    remaining[a]! -= 1;
    left -= 1;
  }
  return { ...sim.result(), endContent: undefined, setup: sim.setup, textKey, counterTotal };
}
