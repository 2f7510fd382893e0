import { SyncPilotError } from '../../core/errors.ts';
import type { Activation, DenseLayer, DenseNetwork } from '../dense-network.ts';
import { checkNetwork } from './check-network.ts';
import { AttributeType, DataType } from './onnx-fields.ts';
import { corrupt } from './protobuf-reader.ts';
import {
  readModelProto,
  type AttributeLite,
  type GraphLite,
  type NodeLite,
  type TensorLite,
  type ValueInfoLite,
} from './read-model-proto.ts';

/** What {@link decodeOnnxModel} gives back. */
export interface DecodedOnnxModel {
  readonly network: DenseNetwork;
  readonly inputName: string;
  readonly outputName: string;
}

const ACTIVATION_OF_OP: Readonly<Record<string, Exclude<Activation, 'linear'>>> = {
  Relu: 'relu',
  Sigmoid: 'sigmoid',
  Tanh: 'tanh',
  Softmax: 'softmax',
};

/** Gemm's and MatMul's semantics on 2-D inputs have been stable since opset 7 (unidirectional broadcast of C). */
const MIN_OPSET = 7;

/**
 * Decodes ONNX bytes back into a {@link DenseNetwork}. Accepts exactly the chain of nodes our
 * encoder writes — optional `Sub` + `Div` standardisation, then per layer `Gemm` (`transB` 0 or 1,
 * `alpha = beta = 1`, bias optional) or `MatMul` (+ `Add`), each optionally followed by `Relu`,
 * `Sigmoid`, `Tanh` or `Softmax` over the last axis — with float32 initializers (raw or
 * `float_data`), one `[batch, n]` float32 input (batch dynamic, n fixed) and one output.
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the bytes are not a well-formed ModelProto
 * (garbage, truncation, missing ir_version / graph / opset_import, tensor data that disagrees with
 * its dims, non-finite weights); `SP_ERR_MODEL_MISMATCH` when the model is well-formed but outside
 * that subset (another op or domain, a branching graph, attributes we do not interpret, shapes
 * that do not chain, an opset below 7)
 */
export function decodeOnnxModel(bytes: Uint8Array): DecodedOnnxModel {
  const model = readModelProto(bytes);
  if (model.irVersion === undefined) throw corrupt('ModelProto has no ir_version');
  if (model.graph === undefined) throw corrupt('ModelProto has no graph');
  if (model.opsets.length === 0) throw corrupt('ModelProto has no opset_import');
  if (model.irVersion < 3) throw mismatch(`IR version ${model.irVersion} predates opset imports`);
  const opset = model.opsets.find((o) => isDefaultDomain(o.domain));
  if (opset === undefined) throw mismatch('no default-domain (ai.onnx) opset is imported');
  if (opset.version < MIN_OPSET) throw mismatch(`default opset ${opset.version} is older than ${MIN_OPSET}`);
  return new GraphInterpreter(model.graph).run();
}

/** Walks the node list once, consuming the chain pattern; anything off the pattern is a mismatch. */
class GraphInterpreter {
  private readonly initializers = new Map<string, TensorLite>();
  private readonly used = new Set<string>();
  private readonly defined = new Set<string>();
  private readonly layers: DenseLayer[] = [];
  private normalize: { mean: Float32Array; std: Float32Array } | undefined;
  private current = '';
  private width = 0;
  private at = 0;

  constructor(private readonly graph: GraphLite) {}

  run(): DecodedOnnxModel {
    const g = this.graph;
    if (g.hasSparseInitializers) throw mismatch('sparse initializers');
    for (const t of g.initializers) {
      if (this.initializers.has(t.name)) throw mismatch(`two initializers are named "${t.name}"`);
      this.initializers.set(t.name, t);
      this.defined.add(t.name);
    }
    // Before IR 4 initializers were also listed as graph inputs; only the others are real inputs.
    const inputs = g.inputs.filter((v) => !this.initializers.has(v.name));
    const input = only(inputs, 'input');
    const output = only(g.outputs, 'output');
    this.width = matrixWidth(input, 'input');
    // A fixed batch size would make onnxruntime refuse batches the JS runtime accepts.
    const batch = input.shape?.[0];
    if (batch !== undefined && 'value' in batch) throw mismatch(`the graph input "${input.name}" has a fixed batch size ${batch.value}`);
    if (input.name === '' || output.name === '') throw mismatch('the graph input and output need names');
    this.current = input.name;
    this.defined.add(input.name);

    while (this.at < g.nodes.length) this.step(this.node(this.at));

    if (this.layers.length === 0) throw mismatch('the graph has no Gemm or MatMul layer');
    if (this.current !== output.name) throw mismatch(`the chain ends at "${this.current}", not at the graph output "${output.name}"`);
    const outWidth = matrixWidth(output, 'output', true);
    if (outWidth !== undefined && outWidth !== this.width)
      throw mismatch(`output declared ${outWidth} wide, the layers give ${this.width}`);
    for (const name of this.initializers.keys()) if (!this.used.has(name)) throw mismatch(`initializer "${name}" is not used`);

    const network: DenseNetwork =
      this.normalize === undefined ? { layers: this.layers } : { normalize: this.normalize, layers: this.layers };
    checkNetwork(network);
    return { network, inputName: input.name, outputName: output.name };
  }

  private step(node: NodeLite): void {
    const op = node.opType;
    switch (op) {
      case 'Sub':
        return this.standardisation(node);
      case 'Gemm':
        return this.gemm(node);
      case 'MatMul':
        return this.matMul(node);
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'Softmax':
        return this.activation(node);
      default:
        throw mismatch(`unsupported op ${node.domain === '' ? '' : `${node.domain}.`}${op} (node "${node.name}")`);
    }
  }

  private standardisation(sub: NodeLite): void {
    if (this.at !== 0) throw mismatch(`Sub node "${sub.name}" is only supported as the first node (input standardisation)`);
    this.expectShape(sub, 2, []);
    const mean = this.vector(sub, 1, this.width, 'mean');
    this.advance(sub);
    const div = this.nodeOrNull(this.at);
    if (div?.opType !== 'Div') throw mismatch(`Sub node "${sub.name}" is not followed by Div (input standardisation)`);
    this.expectShape(div, 2, []);
    const std = this.vector(div, 1, this.width, 'std');
    this.advance(div);
    this.normalize = { mean, std };
  }

  private gemm(node: NodeLite): void {
    if (node.inputs.length < 2 || node.inputs.length > 3) throw mismatch(`Gemm node "${node.name}" has ${node.inputs.length} inputs`);
    let transB = 0;
    for (const a of node.attributes) {
      if (a.name === 'alpha' || a.name === 'beta') {
        if (floatAttr(a, node) !== 1) throw mismatch(`Gemm node "${node.name}" has ${a.name} = ${a.f}; only 1 is supported`);
      } else if (a.name === 'transA') {
        if (intAttr(a, node) !== 0) throw mismatch(`Gemm node "${node.name}" transposes its input (transA = ${a.i})`);
      } else if (a.name === 'transB') {
        transB = intAttr(a, node);
        if (transB !== 0 && transB !== 1) throw mismatch(`Gemm node "${node.name}" has transB = ${transB}`);
      } else throw mismatch(`Gemm node "${node.name}" has unsupported attribute "${a.name}"`);
    }
    this.expectData(node);
    const b = this.param(node, 1);
    if (b.dims.length !== 2) throw mismatch(`Gemm node "${node.name}": weights have rank ${b.dims.length}`);
    const [rows = 0, cols = 0] = b.dims;
    const [inputs, outputs] = transB === 1 ? [cols, rows] : [rows, cols];
    if (inputs !== this.width) throw mismatch(`Gemm node "${node.name}" takes ${inputs} inputs, its input is ${this.width} wide`);
    const weights = transB === 1 ? transpose(b.values, rows, cols) : b.values;
    const biasName = node.inputs[2];
    const bias = biasName === undefined || biasName === '' ? new Float32Array(outputs) : this.vector(node, 2, outputs, 'bias');
    this.advance(node);
    this.pushLayer(inputs, outputs, weights, bias);
  }

  private matMul(node: NodeLite): void {
    this.expectShape(node, 2, []);
    const b = this.param(node, 1);
    if (b.dims.length !== 2) throw mismatch(`MatMul node "${node.name}": weights have rank ${b.dims.length}`);
    const [inputs = 0, outputs = 0] = b.dims;
    if (inputs !== this.width) throw mismatch(`MatMul node "${node.name}" takes ${inputs} inputs, its input is ${this.width} wide`);
    this.advance(node);
    let bias: Float32Array = new Float32Array(outputs);
    const add = this.nodeOrNull(this.at);
    if (add?.opType === 'Add') {
      if (add.inputs.length !== 2 || add.attributes.length > 0 || !isDefaultDomain(add.domain)) {
        throw mismatch(`Add node "${add.name}" is not a plain two-input Add`);
      }
      // Addition commutes: exporters put the bias on either side.
      const side = add.inputs[0] === this.current ? 1 : add.inputs[1] === this.current ? 0 : -1;
      if (side === -1) throw mismatch(`Add node "${add.name}" does not consume "${this.current}"`);
      bias = this.vector(add, side, outputs, 'bias');
      this.advance(add);
    }
    this.pushLayer(inputs, outputs, b.values, bias);
  }

  private activation(node: NodeLite): void {
    const kind = ACTIVATION_OF_OP[node.opType];
    const last = this.layers.at(-1);
    const previous = this.nodeOrNull(this.at - 1);
    const afterLayer = previous !== null && ['Gemm', 'MatMul', 'Add'].includes(previous.opType);
    if (kind === undefined || last === undefined || !afterLayer || last.activation !== 'linear') {
      throw mismatch(`${node.opType} node "${node.name}" does not directly follow a Gemm/MatMul layer`);
    }
    for (const a of node.attributes) {
      const axis = node.opType === 'Softmax' && a.name === 'axis' ? intAttr(a, node) : undefined;
      // On a [batch, n] tensor axis 1 and -1 are the same: the features.
      if (axis !== 1 && axis !== -1) throw mismatch(`${node.opType} node "${node.name}" has unsupported attribute ${a.name}`);
    }
    this.expectShape(node, 1, node.opType === 'Softmax' ? ['axis'] : []);
    this.advance(node);
    this.layers[this.layers.length - 1] = { ...last, activation: kind };
  }

  private pushLayer(inputs: number, outputs: number, weights: Float32Array, bias: Float32Array): void {
    this.layers.push({ inputs, outputs, weights, bias, activation: 'linear' });
    this.width = outputs;
  }

  /** Checks input count, attributes, domain and that input 0 is the running value. */
  private expectShape(node: NodeLite, inputs: number, attributes: readonly string[]): void {
    if (node.inputs.length !== inputs)
      throw mismatch(`${node.opType} node "${node.name}" has ${node.inputs.length} inputs, expected ${inputs}`);
    for (const a of node.attributes) {
      if (!attributes.includes(a.name)) throw mismatch(`${node.opType} node "${node.name}" has unsupported attribute "${a.name}"`);
    }
    this.expectData(node);
  }

  private expectData(node: NodeLite): void {
    if (!isDefaultDomain(node.domain)) throw mismatch(`node "${node.name}" is in domain "${node.domain}"`);
    if (node.inputs[0] !== this.current) {
      throw mismatch(
        `${node.opType} node "${node.name}" reads "${node.inputs[0] ?? ''}", not "${this.current}" (only a single chain is supported)`,
      );
    }
  }

  /** Moves past a node, making its single output the running value. */
  private advance(node: NodeLite): void {
    const out = node.outputs[0];
    if (node.outputs.length !== 1 || out === undefined || out === '') {
      throw mismatch(`${node.opType} node "${node.name}" has ${node.outputs.length} outputs, expected 1`);
    }
    if (this.defined.has(out)) throw mismatch(`value "${out}" is defined twice`);
    this.defined.add(out);
    this.current = out;
    this.at++;
  }

  private param(node: NodeLite, index: number): TensorLite {
    const name = node.inputs[index] ?? '';
    const t = this.initializers.get(name);
    if (t === undefined) throw mismatch(`${node.opType} node "${node.name}": input "${name}" is not an initializer`);
    this.used.add(name);
    return t;
  }

  /** An initializer of shape `[n]` or `[1, n]`. */
  private vector(node: NodeLite, index: number, n: number, what: string): Float32Array {
    const t = this.param(node, index);
    const ok = (t.dims.length === 1 && t.dims[0] === n) || (t.dims.length === 2 && t.dims[0] === 1 && t.dims[1] === n);
    if (!ok) throw mismatch(`${node.opType} node "${node.name}": ${what} has shape [${t.dims.join(', ')}], expected [${n}]`);
    return t.values;
  }

  private node(i: number): NodeLite {
    const n = this.graph.nodes[i];
    if (n === undefined) throw new SyncPilotError('SP_ERR_INTERNAL', `no node ${i}`);
    return n;
  }

  private nodeOrNull(i: number): NodeLite | null {
    return this.graph.nodes[i] ?? null;
  }
}

function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function only(values: readonly ValueInfoLite[], what: string): ValueInfoLite {
  const [v] = values;
  if (v === undefined || values.length !== 1) throw mismatch(`the graph has ${values.length} ${what}s, expected 1`);
  return v;
}

/** The fixed width of a `[batch, n]` float32 value; `undefined` when `lenient` and the shape is not given. */
function matrixWidth(v: ValueInfoLite, what: string, lenient: true): number | undefined;
function matrixWidth(v: ValueInfoLite, what: string): number;
function matrixWidth(v: ValueInfoLite, what: string, lenient = false): number | undefined {
  if (v.elemType !== DataType.FLOAT) throw mismatch(`the graph ${what} "${v.name}" is not a float32 tensor`);
  if (v.shape === undefined && lenient) return undefined;
  if (v.shape?.length !== 2) throw mismatch(`the graph ${what} "${v.name}" is not [batch, n]`);
  const dim = v.shape[1];
  if (dim !== undefined && 'value' in dim && dim.value >= 1) return dim.value;
  if (lenient) return undefined;
  throw mismatch(`the graph ${what} "${v.name}" has no fixed feature width`);
}

function floatAttr(a: AttributeLite, node: NodeLite): number {
  if (a.type !== AttributeType.FLOAT || a.f === undefined || a.other)
    throw mismatch(`${node.opType} node "${node.name}": attribute ${a.name} is not a float`);
  return a.f;
}

function intAttr(a: AttributeLite, node: NodeLite): number {
  if (a.type !== AttributeType.INT || a.i === undefined || a.other)
    throw mismatch(`${node.opType} node "${node.name}": attribute ${a.name} is not an int`);
  return a.i;
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] ?? 0;
  return out;
}

function mismatch(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_MISMATCH', `ONNX model is outside the supported subset: ${message}`);
}
