import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../core/errors.ts';
import type { Activation, DenseLayer, DenseNetwork } from '../ml/dense-network.ts';
import { parseModelCard, type ModelCard } from '../ml/model-card.ts';
import { sha256Hex } from '../ml/model-files.ts';
import type { ModelRuntime } from '../ml/model-runtime.ts';
import { encodeOnnxModel } from '../ml/onnx/encode-onnx.ts';
import type { Policy } from '../ml/policy.ts';
import { mulberry32 } from '../core/random.ts';

/** A deterministic PRNG in [0, 1) (mulberry32), so every run draws the same weights and inputs. */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

/** A shape to build: widths from input to output, one activation per layer, optional standardisation. */
export interface TestArchitecture {
  readonly widths: readonly number[];
  readonly activations: readonly Activation[];
  readonly normalize?: boolean;
}

/** A random dense network of the given architecture; small weights keep outputs near 1 so 1e-5 is a fair tolerance. */
export function testNetwork(arch: TestArchitecture, seed: number): DenseNetwork {
  const rnd = seededRandom(seed);
  const uniform = (lo: number, hi: number): number => lo + (hi - lo) * rnd();
  const layers: DenseLayer[] = [];
  for (let k = 0; k + 1 < arch.widths.length; k++) {
    const inputs = arch.widths[k]!;
    const outputs = arch.widths[k + 1]!;
    const scale = 1 / Math.sqrt(inputs);
    layers.push({
      inputs,
      outputs,
      weights: Float32Array.from({ length: inputs * outputs }, () => uniform(-scale, scale)),
      bias: Float32Array.from({ length: outputs }, () => uniform(-0.1, 0.1)),
      activation: arch.activations[k] ?? 'linear',
    });
  }
  const n = arch.widths[0]!;
  if (arch.normalize !== true) return { layers };
  return {
    layers,
    normalize: {
      mean: Float32Array.from({ length: n }, () => uniform(-2, 2)),
      std: Float32Array.from({ length: n }, () => uniform(0.5, 3)),
    },
  };
}

/** `rows * n` random inputs in [-3, 3). */
export function testInputs(rows: number, n: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  return Float32Array.from({ length: rows * n }, () => rnd() * 6 - 3);
}

/** The forward pass written as plainly as possible, in float64: what every runtime is compared against. */
export function referenceForward(net: DenseNetwork, x: Float32Array, rows: number): Float64Array {
  const n = net.layers[0]!.inputs;
  let cur = Float64Array.from(x);
  if (net.normalize !== undefined) {
    const { mean, std } = net.normalize;
    cur = cur.map((v, i) => (v - mean[i % n]!) / std[i % n]!);
  }
  for (const l of net.layers) {
    const next = new Float64Array(rows * l.outputs);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < l.outputs; j++) {
        let s = l.bias[j]!;
        for (let i = 0; i < l.inputs; i++) s += cur[r * l.inputs + i]! * l.weights[i * l.outputs + j]!;
        next[r * l.outputs + j] = s;
      }
      const row = next.subarray(r * l.outputs, (r + 1) * l.outputs);
      if (l.activation === 'relu') row.forEach((v, j) => (row[j] = Math.max(0, v)));
      else if (l.activation === 'sigmoid') row.forEach((v, j) => (row[j] = 1 / (1 + Math.exp(-v))));
      else if (l.activation === 'tanh') row.forEach((v, j) => (row[j] = Math.tanh(v)));
      else if (l.activation === 'softmax') {
        const max = Math.max(...row);
        const exps = row.map((v) => Math.exp(v - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        row.forEach((_, j) => (row[j] = exps[j]! / sum));
      }
    }
    cur = next;
  }
  return cur;
}

/** What {@link testModelCard} may vary. */
export interface TestCardOptions {
  readonly policy?: Policy;
  readonly name?: string;
  readonly version?: number;
  readonly inputName?: string;
  readonly outputName?: string;
  readonly inputs?: number;
  readonly outputs?: number;
  readonly featureSchema?: { readonly name: string; readonly version: number };
  readonly primary?: { readonly name: string; readonly value: number; readonly higherIsBetter: boolean };
}

/** A valid model card for `bytes` encoding `net` (file checksum, io from the network unless overridden). */
export function testModelCard(net: DenseNetwork, bytes: Uint8Array, opts: TestCardOptions = {}): ModelCard {
  const primary = opts.primary ?? { name: 'mae', value: 0.1, higherIsBetter: false };
  return parseModelCard({
    schema: 'syncpilot.model-card.v1',
    policy: opts.policy ?? 'compression',
    name: opts.name ?? 'conformance',
    version: opts.version ?? 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    file: { name: 'model.onnx', format: 'onnx', sha256: sha256Hex(bytes), bytes: bytes.byteLength },
    io: {
      inputName: opts.inputName ?? 'features',
      outputName: opts.outputName ?? 'prediction',
      inputs: opts.inputs ?? net.layers[0]!.inputs,
      outputs: opts.outputs ?? net.layers.at(-1)!.outputs,
    },
    featureSchema: opts.featureSchema ?? { name: 'conformance', version: 1 },
    dataset: {
      fingerprint: '0'.repeat(64),
      source: 'synthetic',
      rows: { train: 0, validation: 0, test: 0 },
      split: { method: 'random', seed: 1 },
    },
    training: { backend: 'none', seed: 1, epochs: 0, durationMs: 0, config: {} },
    metrics: { primary: { name: primary.name, higherIsBetter: primary.higherIsBetter }, test: { [primary.name]: primary.value } },
  });
}

/** ONNX bytes of `net` with the io names {@link testModelCard} uses by default. */
export function testModelBytes(net: DenseNetwork): Uint8Array {
  return encodeOnnxModel(net, { inputName: 'features', outputName: 'prediction' });
}

/** Asserts `actual` equals `expected` element-wise within `tolerance` (absolute). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(worst <= tolerance, `${what}: |diff| ${worst} at ${at} exceeds ${tolerance}`);
}

const ARCHITECTURES: Readonly<Record<string, TestArchitecture>> = {
  'regressor 8→16 relu→1, standardised': { widths: [8, 16, 1], activations: ['relu', 'linear'], normalize: true },
  'classifier 12→32 tanh→16 sigmoid→4 softmax': { widths: [12, 32, 16, 4], activations: ['tanh', 'sigmoid', 'softmax'] },
  'linear 5→3': { widths: [5, 3], activations: ['linear'] },
  'deeper 20→64 relu→64 relu→8 sigmoid, standardised': {
    widths: [20, 64, 64, 8],
    activations: ['relu', 'relu', 'sigmoid'],
    normalize: true,
  },
};

async function rejectsWith(p: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SyncPilotError, `${what}: a SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return true;
  });
}

/**
 * Registers node:test tests every {@link ModelRuntime} must pass: outputs within 1e-5 of a float64
 * reference forward pass for several architectures at batches of 1, 16 and 256; concurrent calls;
 * input views at an offset; empty batches; argument checks; close semantics; and refusal codes
 * (`SP_ERR_MODEL_CORRUPT` for garbage, empty and truncated bytes, `SP_ERR_MODEL_MISMATCH` when the
 * card's io disagrees with the graph).
 *
 * @example
 * runModelRuntimeConformance('onnxruntime-node', () => createOnnxRuntime());
 */
export function runModelRuntimeConformance(name: string, makeRuntime: () => ModelRuntime | Promise<ModelRuntime>): void {
  describe(`ModelRuntime conformance: ${name}`, () => {
    for (const [label, arch] of Object.entries(ARCHITECTURES)) {
      test(`${label}: matches the reference at batches 1, 16, 256`, async () => {
        const runtime = await makeRuntime();
        const net = testNetwork(arch, label.length);
        const bytes = testModelBytes(net);
        const card = testModelCard(net, bytes);
        const model = await runtime.load(bytes, card);
        try {
          // A runtime that picks per call (createAutoRuntime) reports 'auto', or the one side it can use.
          assert.ok(['js', 'onnx', 'auto'].includes(model.runtime), `runtime ${model.runtime}`);
          assert.equal(model.inputs, arch.widths[0]);
          assert.equal(model.outputs, arch.widths.at(-1));
          assert.equal(model.card, card);
          for (const rows of [1, 16, 256]) {
            const x = testInputs(rows, model.inputs, rows);
            const y = await model.run(x, rows);
            assert.ok(y instanceof Float32Array, 'output is a Float32Array');
            assertClose(y, referenceForward(net, x, rows), 1e-5, `${label} batch ${rows}`);
          }
        } finally {
          await model.close();
        }
      });
    }

    test('concurrent calls each get their own rows; inputs at an offset; empty batches', async () => {
      const runtime = await makeRuntime();
      const arch = ARCHITECTURES['classifier 12→32 tanh→16 sigmoid→4 softmax']!;
      const net = testNetwork(arch, 7);
      const bytes = testModelBytes(net);
      const model = await runtime.load(bytes, testModelCard(net, bytes));
      try {
        const jobs = Array.from({ length: 64 }, (_, k) => {
          const rows = 1 + ((k * 37) % 40);
          const x = testInputs(rows, 12, 1000 + k);
          return { rows, x, y: model.run(x, rows) };
        });
        for (const [k, j] of jobs.entries()) assertClose(await j.y, referenceForward(net, j.x, j.rows), 1e-5, `call ${k}`);
        const big = testInputs(10, 12, 99);
        const view = big.subarray(12 * 3, 12 * 8);
        assertClose(await model.run(view, 5), referenceForward(net, view, 5), 1e-5, 'view at an offset');
        assert.equal((await model.run(new Float32Array(0), 0)).length, 0);
        await rejectsWith(model.run(new Float32Array(11), 1), 'SP_ERR_MODEL_MISMATCH', 'short row');
        await rejectsWith(model.run(new Float32Array(24), 1), 'SP_ERR_MODEL_MISMATCH', 'rows disagree with the batch');
        await rejectsWith(model.run(new Float32Array(12), 1.5), 'SP_ERR_MODEL_MISMATCH', 'fractional rows');
      } finally {
        await model.close();
      }
    });

    test('close: runs in flight finish, later runs reject SP_ERR_CLOSED, close is idempotent', async () => {
      const runtime = await makeRuntime();
      const net = testNetwork(ARCHITECTURES['regressor 8→16 relu→1, standardised']!, 3);
      const bytes = testModelBytes(net);
      const model = await runtime.load(bytes, testModelCard(net, bytes));
      const x = testInputs(32, 8, 5);
      const inFlight = [model.run(x, 32), model.run(x, 32)];
      const closing = model.close();
      for (const y of await Promise.all(inFlight)) assertClose(y, referenceForward(net, x, 32), 1e-5, 'run in flight at close');
      await closing;
      await rejectsWith(model.run(x, 32), 'SP_ERR_CLOSED', 'run after close');
      await model.close();
    });

    test('refuses undecodable bytes with SP_ERR_MODEL_CORRUPT', async () => {
      const runtime = await makeRuntime();
      const net = testNetwork(ARCHITECTURES['deeper 20→64 relu→64 relu→8 sigmoid, standardised']!, 11);
      const bytes = testModelBytes(net);
      const rnd = seededRandom(42);
      const garbage = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256));
      const cases: [string, Uint8Array][] = [
        ['garbage', garbage],
        ['empty', new Uint8Array(0)],
        ['truncated to half', bytes.subarray(0, bytes.length >> 1)],
        ['truncated by one byte', bytes.subarray(0, bytes.length - 1)],
      ];
      for (const [what, b] of cases) {
        // The card describes these bytes: the runtime, not the checksum, must catch them.
        const card = {
          ...testModelCard(net, bytes),
          file: { name: 'model.onnx', format: 'onnx' as const, sha256: sha256Hex(b), bytes: b.length || 1 },
        };
        await rejectsWith(runtime.load(b, card), 'SP_ERR_MODEL_CORRUPT', what);
      }
    });

    test('refuses a card whose io disagrees with the graph with SP_ERR_MODEL_MISMATCH', async () => {
      const runtime = await makeRuntime();
      const net = testNetwork(ARCHITECTURES['regressor 8→16 relu→1, standardised']!, 13);
      const bytes = testModelBytes(net);
      const cases: [string, TestCardOptions][] = [
        ['one input too many', { inputs: 9 }],
        ['one input too few', { inputs: 7 }],
        ['another output width', { outputs: 2 }],
        ['another input name', { inputName: 'x' }],
        ['another output name', { outputName: 'y' }],
      ];
      for (const [what, opts] of cases)
        await rejectsWith(runtime.load(bytes, testModelCard(net, bytes, opts)), 'SP_ERR_MODEL_MISMATCH', what);
    });
  });
}
