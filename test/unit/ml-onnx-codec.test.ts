import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import type { Activation, DenseNetwork } from '../../src/ml/dense-network.ts';
import { checkNetwork } from '../../src/ml/onnx/check-network.ts';
import { decodeOnnxModel } from '../../src/ml/onnx/decode-onnx.ts';
import { encodeOnnxModel } from '../../src/ml/onnx/encode-onnx.ts';
import { ProtobufReader } from '../../src/ml/onnx/protobuf-reader.ts';
import { readModelProto } from '../../src/ml/onnx/read-model-proto.ts';
import { randomNetwork, seededRandom, TYPICAL } from '../fixtures/ml-onnx-examples.ts';
import {
  buildOnnxModel,
  variantModel,
  type LayerStyle,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from '../fixtures/ml-onnx-graph-builder.ts';

const IO = { inputName: 'features', outputName: 'score' };

function expectCode(fn: () => unknown, code: ErrorCode, label = ''): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SyncPilotError, `${label}: expected a SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, code, `${label}: ${err.message}`);
    return;
  }
  assert.fail(`${label}: expected ${code}, nothing was thrown`);
}

const SMALL = randomNetwork([3, 4, 2], ['tanh', 'softmax'], 11);

describe('encodeOnnxModel', () => {
  test('starts with ir_version 8 and producer_name (onnx.proto fields 1 and 2)', () => {
    const bytes = encodeOnnxModel(SMALL, IO);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x08, 8, 0x12, 9]);
    assert.equal(Buffer.from(bytes.subarray(4, 13)).toString(), 'syncpilot');
  });

  test('writes the documented graph: opset 13, Sub + Div, Gemm + activation, [batch, n] io', () => {
    const m = readModelProto(encodeOnnxModel(randomNetwork([5, 6, 3], ['relu', 'softmax'], 3), { ...IO, docString: 'doc' }));
    assert.equal(m.irVersion, 8);
    assert.equal(m.docString, 'doc');
    assert.deepEqual(m.opsets, [{ domain: '', version: 13 }]);
    const g = m.graph;
    assert.ok(g);
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ['Sub', 'Div', 'Gemm', 'Relu', 'Gemm', 'Softmax'],
    );
    assert.deepEqual(g.nodes.at(-1)?.attributes, [{ name: 'axis', type: 2, i: -1, other: false }]);
    assert.deepEqual(g.nodes[2]?.attributes, [{ name: 'transB', type: 2, i: 0, other: false }]);
    assert.equal(g.nodes.at(-1)?.outputs[0], 'score');
    assert.deepEqual(g.inputs, [{ name: 'features', elemType: 1, shape: [{ param: 'batch' }, { value: 5 }] }]);
    assert.deepEqual(g.outputs, [{ name: 'score', elemType: 1, shape: [{ param: 'batch' }, { value: 3 }] }]);
    assert.deepEqual(
      g.initializers.map((t) => [t.name, t.dims]),
      [
        ['sp/normalize/mean', [5]],
        ['sp/normalize/std', [5]],
        ['sp/layer0/weight', [5, 6]],
        ['sp/layer0/bias', [6]],
        ['sp/layer1/weight', [6, 3]],
        ['sp/layer1/bias', [3]],
      ],
    );
  });

  test('a linear last layer without standardisation is one Gemm per layer', () => {
    const m = readModelProto(encodeOnnxModel(randomNetwork([2, 1], ['linear'], 1, false), IO));
    assert.deepEqual(
      m.graph?.nodes.map((n) => [n.opType, n.inputs, n.outputs]),
      [['Gemm', ['features', 'sp/layer0/weight', 'sp/layer0/bias'], ['score']]],
    );
  });

  test('is deterministic', () => {
    assert.deepEqual(encodeOnnxModel(TYPICAL, IO), encodeOnnxModel(TYPICAL, IO));
  });

  test('refuses bad io names and inconsistent or non-finite networks', () => {
    expectCode(() => encodeOnnxModel(SMALL, { inputName: '', outputName: 'y' }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeOnnxModel(SMALL, { inputName: 'x', outputName: 'x' }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeOnnxModel(SMALL, { inputName: 'sp/x', outputName: 'y' }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeOnnxModel({ layers: [] }, IO), 'SP_ERR_MODEL_MISMATCH');
    const [l0, l1] = SMALL.layers;
    assert.ok(l0 && l1);
    expectCode(() => encodeOnnxModel({ layers: [l1, l0] }, IO), 'SP_ERR_MODEL_MISMATCH', 'layers do not chain');
    expectCode(() => encodeOnnxModel({ layers: [{ ...l0, weights: new Float32Array(3) }] }, IO), 'SP_ERR_MODEL_MISMATCH');
    expectCode(() => encodeOnnxModel({ layers: [{ ...l0, activation: 'elu' as Activation }] }, IO), 'SP_ERR_MODEL_MISMATCH');
    const nan = Float32Array.from(l0.weights);
    nan[1] = NaN;
    expectCode(() => encodeOnnxModel({ layers: [{ ...l0, weights: nan }] }, IO), 'SP_ERR_MODEL_CORRUPT');
    const std = new Float32Array(3).fill(1);
    std[2] = 0;
    expectCode(() => encodeOnnxModel({ normalize: { mean: new Float32Array(3), std }, layers: [l0] }, IO), 'SP_ERR_MODEL_CORRUPT');
  });
});

describe('decodeOnnxModel: round trip and variants', () => {
  const activation = fc.constantFrom<Activation>('linear', 'relu', 'sigmoid', 'tanh', 'softmax');
  const finite = fc.float({ noNaN: true, noDefaultInfinity: true });
  const networkArb: fc.Arbitrary<DenseNetwork> = fc
    .record({ widths: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 5 }), normalize: fc.boolean() })
    .chain(({ widths, normalize }) => {
      const layers = widths.slice(1).map((outputs, i) => {
        const inputs = widths[i] ?? 1;
        return fc.record({
          inputs: fc.constant(inputs),
          outputs: fc.constant(outputs),
          weights: fc.float32Array({ minLength: inputs * outputs, maxLength: inputs * outputs, noNaN: true, noDefaultInfinity: true }),
          bias: fc.float32Array({ minLength: outputs, maxLength: outputs, noNaN: true, noDefaultInfinity: true }),
          activation,
        });
      });
      const n = widths[0] ?? 1;
      const vec = (arb: fc.Arbitrary<number>): fc.Arbitrary<Float32Array> =>
        fc.array(arb, { minLength: n, maxLength: n }).map((v) => Float32Array.from(v));
      const norm = fc.record({ mean: vec(finite), std: vec(finite.filter((v) => v !== 0)) });
      // fc.record builds null-prototype objects; deepStrictEqual compares prototypes, so copy to plain ones.
      const plainLayers = fc.tuple(...layers).map((ls) => ls.map((l) => ({ ...l })));
      return normalize
        ? fc.record({ normalize: norm, layers: plainLayers }).map((n) => ({ normalize: { ...n.normalize }, layers: n.layers }))
        : plainLayers.map((ls) => ({ layers: ls }));
    });

  test('decode(encode(net)) gives the same network, names and bits (property)', () => {
    fc.assert(
      fc.property(networkArb, fc.constantFrom('x', 'input_1', 'features ü'), (net, inputName) => {
        const back = decodeOnnxModel(encodeOnnxModel(net, { inputName, outputName: 'y' }));
        assert.deepStrictEqual(back, { network: net, inputName, outputName: 'y' });
      }),
      { numRuns: 200 },
    );
  });

  for (const style of ['gemm-transB', 'gemm-no-bias-attrs', 'matmul-add', 'matmul-add-swapped'] as const satisfies readonly LayerStyle[]) {
    test(`other exporters' layout decodes to the same network: ${style}`, () => {
      for (const net of [SMALL, randomNetwork([4, 3, 3, 1], ['relu', 'sigmoid', 'linear'], 5, false)]) {
        assert.deepStrictEqual(decodeOnnxModel(variantModel(net, style)), { network: net, inputName: 'x', outputName: 'y' });
      }
    });
  }

  test('Gemm and MatMul without a bias decode with zero biases', () => {
    const W = { name: 'W', dims: [2, 1], values: [1, 2] };
    const io = { inputs: [{ name: 'x', dims: ['N', 2] }], outputs: [{ name: 'y', dims: ['N', 1] }] };
    for (const op of ['Gemm', 'MatMul']) {
      const net = decodeOnnxModel(
        buildOnnxModel({ nodes: [{ op, inputs: ['x', 'W'], outputs: ['y'] }], initializers: [W], ...io }),
      ).network;
      assert.deepStrictEqual(net.layers[0]?.bias, new Float32Array(1));
      assert.deepStrictEqual(net.layers[0]?.weights, Float32Array.of(1, 2));
    }
  });
});

/** One Gemm + Relu layer, 2 → 2: the base every refusal case below changes in one place. */
function base(change: (s: MutableSpec) => void = () => {}): Uint8Array {
  const s: MutableSpec = {
    nodes: [
      { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'] },
      { op: 'Relu', inputs: ['z'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'W', dims: [2, 2], values: [1, 2, 3, 4] },
      { name: 'B', dims: [2], values: [0.5, -0.5] },
    ],
    inputs: [{ name: 'x', dims: ['N', 2] }],
    outputs: [{ name: 'y', dims: ['N', 2] }],
  };
  change(s);
  return buildOnnxModel(s);
}
/** Where top-level field `field` (tag included) lies in `bytes`. */
function topLevelField(bytes: Uint8Array, field: number): { start: number; end: number } {
  const r = new ProtobufReader(bytes, 'test');
  let start = 0;
  while (!r.done) {
    const tag = r.tag();
    r.skip(tag);
    const end = r.offset;
    if (tag.field === field) return { start, end };
    start = end;
  }
  throw new Error(`no field ${field}`);
}
interface MutableSpec {
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  irVersion?: number;
  opsets?: { domain: string; version: number }[];
}

describe('decodeOnnxModel: refusals', () => {
  test('the base case decodes (so each refusal below is due to its one change)', () => {
    assert.equal(decodeOnnxModel(base()).network.layers[0]?.activation, 'relu');
  });

  test('garbage is SP_ERR_MODEL_CORRUPT', () => {
    const rnd = seededRandom(99);
    const garbage = [
      new Uint8Array(0),
      new TextEncoder().encode('this is not an ONNX model, it is a sentence.'),
      new TextEncoder().encode(JSON.stringify({ ir_version: 8, graph: {} })),
      Uint8Array.from({ length: 1024 }, () => Math.floor(rnd() * 256)),
      Uint8Array.of(0x08, 0x08), // ir_version alone: no graph, no opset
    ];
    garbage.forEach((bytes, i) => expectCode(() => decodeOnnxModel(bytes), 'SP_ERR_MODEL_CORRUPT', `garbage #${i}`));
  });

  test('every truncation of a valid model is SP_ERR_MODEL_CORRUPT', () => {
    for (const bytes of [encodeOnnxModel(SMALL, IO), variantModel(SMALL, 'matmul-add')]) {
      for (let cut = 0; cut < bytes.length; cut++)
        expectCode(() => decodeOnnxModel(bytes.subarray(0, cut)), 'SP_ERR_MODEL_CORRUPT', `cut at ${cut}`);
    }
  });

  const mismatches: Record<string, (s: MutableSpec) => void> = {
    'a Conv node': (s) => (s.nodes[1] = { op: 'Conv', inputs: ['z'], outputs: ['y'] }),
    'a LeakyRelu activation': (s) => (s.nodes[1] = { op: 'LeakyRelu', inputs: ['z'], outputs: ['y'] }),
    'a Relu from another domain': (s) => (s.nodes[1] = { op: 'Relu', inputs: ['z'], outputs: ['y'], domain: 'com.microsoft' }),
    'Gemm alpha = 2': (s) => (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'], attrs: [{ name: 'alpha', f: 2 }] }),
    'Gemm transA = 1': (s) => (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'], attrs: [{ name: 'transA', i: 1 }] }),
    'Gemm alpha given as an int': (s) =>
      (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'], attrs: [{ name: 'alpha', i: 1 }] }),
    'an unknown Gemm attribute': (s) =>
      (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'], attrs: [{ name: 'foo', s: 'bar' }] }),
    'Softmax over axis 0': (s) => (s.nodes[1] = { op: 'Softmax', inputs: ['z'], outputs: ['y'], attrs: [{ name: 'axis', i: 0 }] }),
    'Softmax axis as ints': (s) => (s.nodes[1] = { op: 'Softmax', inputs: ['z'], outputs: ['y'], attrs: [{ name: 'axis', ints: [1] }] }),
    'an attribute on Relu': (s) => (s.nodes[1] = { op: 'Relu', inputs: ['z'], outputs: ['y'], attrs: [{ name: 'alpha', f: 0.1 }] }),
    'a branch (Relu reads the input)': (s) => (s.nodes[1] = { op: 'Relu', inputs: ['x'], outputs: ['y'] }),
    'two graph outputs': (s) => s.outputs.push({ name: 'z', dims: ['N', 2] }),
    'two graph inputs': (s) => s.inputs.push({ name: 'x2', dims: ['N', 2] }),
    'a float64 input': (s) => (s.inputs[0] = { name: 'x', dims: ['N', 2], elemType: 11 }),
    'a rank-3 input': (s) => (s.inputs[0] = { name: 'x', dims: ['N', 2, 1] }),
    'a fixed batch size': (s) => (s.inputs[0] = { name: 'x', dims: [1, 2] }),
    'a symbolic feature width': (s) => (s.inputs[0] = { name: 'x', dims: ['N', 'F'] }),
    'an input width the weights disagree with': (s) => (s.inputs[0] = { name: 'x', dims: ['N', 3] }),
    'an output width the weights disagree with': (s) => (s.outputs[0] = { name: 'y', dims: ['N', 3] }),
    'float64 weights': (s) => (s.initializers[0] = { name: 'W', dims: [2, 2], values: [1, 2, 3, 4], dataType: 11 }),
    'external tensor data': (s) => (s.initializers[0] = { name: 'W', dims: [2, 2], values: [1, 2, 3, 4], external: true }),
    'an unused initializer': (s) => s.initializers.push({ name: 'spare', dims: [1], values: [0] }),
    'two initializers of one name': (s) => s.initializers.push({ name: 'W', dims: [2, 2], values: [1, 2, 3, 4] }),
    'opset 6': (s) => (s.opsets = [{ domain: '', version: 6 }]),
    'only a custom-domain opset': (s) => (s.opsets = [{ domain: 'com.example', version: 1 }]),
    'IR version 2': (s) => (s.irVersion = 2),
    'an output no node produces': (s) => (s.outputs[0] = { name: 'q', dims: ['N', 2] }),
    'a node with two outputs': (s) => (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z', 'z2'] }),
    'an activation before any layer': (s) => s.nodes.unshift({ op: 'Relu', inputs: ['x'], outputs: ['x1'] }),
    'two activations in a row': (s) => s.nodes.splice(1, 0, { op: 'Tanh', inputs: ['z'], outputs: ['z1'] }),
    'Sub after a layer': (s) => s.nodes.splice(1, 0, { op: 'Sub', inputs: ['z', 'B'], outputs: ['z1'] }),
    'Sub without Div': (s) => {
      s.nodes.unshift({ op: 'Sub', inputs: ['x', 'M'], outputs: ['xc'] });
      s.nodes[1] = { op: 'Gemm', inputs: ['xc', 'W', 'B'], outputs: ['z'] };
      s.initializers.push({ name: 'M', dims: [2], values: [0, 0] });
    },
    'a bias of the wrong width': (s) => (s.initializers[1] = { name: 'B', dims: [3], values: [0, 0, 0] }),
    'rank-3 weights': (s) => (s.initializers[0] = { name: 'W', dims: [2, 2, 1], values: [1, 2, 3, 4] }),
    'a value defined twice': (s) => (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['W'] }),
    'weights that are not an initializer': (s) => (s.nodes[0] = { op: 'Gemm', inputs: ['x', 'x', 'B'], outputs: ['z'] }),
    'no layer at all': (s) => {
      s.nodes = [];
      s.initializers = [];
      s.outputs[0] = { name: 'x', dims: ['N', 2] };
    },
  };
  for (const [name, change] of Object.entries(mismatches)) {
    test(`a well-formed model outside the subset is SP_ERR_MODEL_MISMATCH: ${name}`, () => {
      expectCode(() => decodeOnnxModel(base(change)), 'SP_ERR_MODEL_MISMATCH', name);
    });
  }

  const corrupt: Record<string, () => Uint8Array> = {
    'raw_data shorter than its dims': () => base((s) => (s.initializers[0] = { name: 'W', dims: [2, 2], values: [1, 2, 3] })),
    'float_data longer than its dims': () =>
      base((s) => (s.initializers[0] = { name: 'W', dims: [2, 2], values: [1, 2, 3, 4, 5], encoding: 'float_data' })),
    'a NaN weight': () => base((s) => (s.initializers[0] = { name: 'W', dims: [2, 2], values: [1, NaN, 3, 4] })),
    'an infinite bias': () => base((s) => (s.initializers[1] = { name: 'B', dims: [2], values: [Infinity, 0] })),
    'a zero std': () => variantModel({ ...SMALL, normalize: { mean: new Float32Array(3), std: Float32Array.of(1, 0, 1) } }, 'matmul-add'),
    'the graph field twice': () => {
      const bytes = base();
      const { start, end } = topLevelField(bytes, 7);
      return Uint8Array.from([...bytes.subarray(0, end), ...bytes.subarray(start, end), ...bytes.subarray(end)]);
    },
    'ir_version with the wrong wire type': () => {
      const bytes = Uint8Array.from(base());
      bytes[0] = 0x0d; // field 1 as fixed32
      return bytes;
    },
  };
  for (const [name, make] of Object.entries(corrupt)) {
    test(`undecodable content is SP_ERR_MODEL_CORRUPT: ${name}`, () => {
      expectCode(() => decodeOnnxModel(make()), 'SP_ERR_MODEL_CORRUPT', name);
    });
  }

  test('random byte mutations of valid models never throw anything but CORRUPT / MISMATCH (property)', (t) => {
    const seeds = [encodeOnnxModel(SMALL, IO), variantModel(SMALL, 'gemm-transB'), variantModel(SMALL, 'matmul-add-swapped')];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    let decoded = 0;
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, mutations) => {
        let bytes = [...(seeds[which] ?? [])];
        for (const m of mutations) {
          const at = m.at % Math.max(1, bytes.length);
          if (m.kind === 'flip') bytes[at] = (bytes[at] ?? 0) ^ (1 << m.bit);
          else if (m.kind === 'set') bytes[at] = m.value;
          else if (m.kind === 'insert') bytes.splice(at, 0, ...m.bytes);
          else if (m.kind === 'delete') bytes.splice(at, m.len);
          else bytes = bytes.slice(0, at);
        }
        try {
          const { network } = decodeOnnxModel(Uint8Array.from(bytes));
          checkNetwork(network); // whatever decodes is a usable network
          decoded++;
        } catch (err) {
          if (!(err instanceof SyncPilotError)) throw err;
          assert.ok(err.code === 'SP_ERR_MODEL_CORRUPT' || err.code === 'SP_ERR_MODEL_MISMATCH', err.code);
          outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
        }
      }),
      { numRuns: 4000, seed: 20260401 },
    );
    t.diagnostic(
      `mutants: ${decoded} decoded, ${outcomes.get('SP_ERR_MODEL_CORRUPT') ?? 0} CORRUPT, ${outcomes.get('SP_ERR_MODEL_MISMATCH') ?? 0} MISMATCH`,
    );
    // Both refusal paths and the accepting path are exercised, or the property proves little.
    assert.ok(decoded > 0 && (outcomes.get('SP_ERR_MODEL_CORRUPT') ?? 0) > 0 && (outcomes.get('SP_ERR_MODEL_MISMATCH') ?? 0) > 0);
  });

  test('random bytes never throw anything but CORRUPT / MISMATCH (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          decodeOnnxModel(bytes);
        } catch (err) {
          assert.ok(
            err instanceof SyncPilotError && (err.code === 'SP_ERR_MODEL_CORRUPT' || err.code === 'SP_ERR_MODEL_MISMATCH'),
            String(err),
          );
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('codec timing (diagnostic, not asserted)', () => {
  test('encode / decode medians for a typical and a larger model', (t) => {
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    for (const [label, net] of [
      ['typical 16→64→64→1 (5,313 params)', TYPICAL],
      ['larger 64→256→256→8 (84,488 params)', randomNetwork([64, 256, 256, 8], ['relu', 'relu', 'softmax'], 2)],
    ] as const) {
      const bytes = encodeOnnxModel(net, IO);
      const enc: number[] = [];
      const dec: number[] = [];
      for (let i = 0; i < 120; i++) {
        let t0 = performance.now();
        encodeOnnxModel(net, IO);
        enc.push(performance.now() - t0);
        t0 = performance.now();
        decodeOnnxModel(bytes);
        dec.push(performance.now() - t0);
      }
      // Drop the warm-up iterations (JIT) before taking medians.
      const e = median(enc.slice(20)) * 1000;
      const d = median(dec.slice(20)) * 1000;
      t.diagnostic(`${label}: ${bytes.length} bytes, encode median ${e.toFixed(0)} µs, decode median ${d.toFixed(0)} µs`);
    }
  });
});
