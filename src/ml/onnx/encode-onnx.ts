import { SyncPilotError } from '../../core/errors.ts';
import type { Activation, DenseNetwork } from '../dense-network.ts';
import { checkNetwork } from './check-network.ts';
import {
  AttributeProto,
  AttributeType,
  DataType,
  Dimension,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  TensorProto,
  TensorShapeProto,
  TypeProto,
  TypeProtoTensor,
  ValueInfoProto,
  WRITTEN_IR_VERSION,
  WRITTEN_OPSET,
} from './onnx-fields.ts';
import { float32LittleEndian, ProtobufWriter } from './protobuf-writer.ts';

/** Options of {@link encodeOnnxModel}. */
export interface EncodeOnnxOptions {
  /** Name of the graph input, `[batch, inputs]` float32 (the card's `io.inputName`). */
  readonly inputName: string;
  /** Name of the graph output, `[batch, outputs]` float32 (the card's `io.outputName`). */
  readonly outputName: string;
  /** `ModelProto.producer_name`; default `syncpilot`. */
  readonly producer?: string;
  /** `ModelProto.producer_version`; omitted by default. */
  readonly producerVersion?: string;
  /** `ModelProto.doc_string`; omitted by default. */
  readonly docString?: string;
}

/** Prefix of every name the encoder makes up, so that it cannot collide with the io names. */
export const INTERNAL_NAME_PREFIX = 'sp/';

/** Name of the symbolic batch dimension of the input and output. */
export const BATCH_DIM = 'batch';

const ACTIVATION_OPS: Readonly<Record<Exclude<Activation, 'linear'>, string>> = {
  relu: 'Relu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  softmax: 'Softmax',
};

interface Node {
  readonly op: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly softmaxAxis?: number;
}

interface Initializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly values: Float32Array;
}

/**
 * Encodes a dense network as an ONNX ModelProto (IR version 8, default-domain opset 13): input
 * standardisation as `Sub` + `Div` by initializers, each layer as `Gemm` (weights `[in][out]`,
 * `transB = 0`) followed by its activation node (`Relu`, `Sigmoid`, `Tanh`, `Softmax` with
 * `axis = -1`; none for linear). The input is `[batch, inputs]` float32 with a symbolic batch
 * dimension. Tensors are stored as little-endian `raw_data`. Deterministic: the same network and
 * options give the same bytes.
 * @throws SyncPilotError `SP_ERR_MODEL_MISMATCH` / `SP_ERR_MODEL_CORRUPT` for an inconsistent or
 * non-finite network (see `checkNetwork`); `SP_ERR_CONFIG_INVALID` when the io names are empty,
 * equal, or start with the reserved prefix `sp/`
 */
export function encodeOnnxModel(net: DenseNetwork, opts: EncodeOnnxOptions): Uint8Array {
  checkNetwork(net);
  checkIoNames(opts.inputName, opts.outputName);
  const { nodes, initializers } = planGraph(net, opts);
  const inputs = net.layers[0]?.inputs ?? 0;
  const outputs = net.layers.at(-1)?.outputs ?? 0;

  const w = new ProtobufWriter();
  w.uint(ModelProto.ir_version, WRITTEN_IR_VERSION);
  w.string(ModelProto.producer_name, opts.producer ?? 'syncpilot');
  if (opts.producerVersion !== undefined) w.string(ModelProto.producer_version, opts.producerVersion);
  if (opts.docString !== undefined) w.string(ModelProto.doc_string, opts.docString);
  w.message(ModelProto.graph, (g) => {
    for (const node of nodes) g.message(GraphProto.node, (n) => writeNode(n, node));
    g.string(GraphProto.name, 'syncpilot-dense-network');
    for (const init of initializers) g.message(GraphProto.initializer, (t) => writeTensor(t, init));
    g.message(GraphProto.input, (v) => writeValueInfo(v, opts.inputName, inputs));
    g.message(GraphProto.output, (v) => writeValueInfo(v, opts.outputName, outputs));
  });
  w.message(ModelProto.opset_import, (o) => {
    // The default ONNX domain is the empty string; writing it explicitly keeps readers that treat
    // an absent field differently from "" on the safe side.
    o.string(OperatorSetIdProto.domain, '');
    o.uint(OperatorSetIdProto.version, WRITTEN_OPSET);
  });
  return w.finish();
}

function checkIoNames(inputName: string, outputName: string): void {
  for (const [what, name] of [
    ['inputName', inputName],
    ['outputName', outputName],
  ] as const) {
    if (name.length === 0 || name.startsWith(INTERNAL_NAME_PREFIX)) {
      throw new SyncPilotError(
        'SP_ERR_CONFIG_INVALID',
        `ONNX ${what} "${name}" must be non-empty and not start with "${INTERNAL_NAME_PREFIX}"`,
      );
    }
  }
  if (inputName === outputName) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `ONNX inputName and outputName are both "${inputName}"`);
  }
}

function planGraph(net: DenseNetwork, opts: EncodeOnnxOptions): { nodes: Node[]; initializers: Initializer[] } {
  const nodes: Node[] = [];
  const initializers: Initializer[] = [];
  let current = opts.inputName;
  const norm = net.normalize;
  if (norm !== undefined) {
    const p = `${INTERNAL_NAME_PREFIX}normalize/`;
    initializers.push({ name: `${p}mean`, dims: [norm.mean.length], values: norm.mean });
    initializers.push({ name: `${p}std`, dims: [norm.std.length], values: norm.std });
    nodes.push({ op: 'Sub', name: `${p}sub`, inputs: [current, `${p}mean`], output: `${p}centered` });
    nodes.push({ op: 'Div', name: `${p}div`, inputs: [`${p}centered`, `${p}std`], output: `${p}out` });
    current = `${p}out`;
  }
  net.layers.forEach((layer, i) => {
    const p = `${INTERNAL_NAME_PREFIX}layer${i}/`;
    initializers.push({ name: `${p}weight`, dims: [layer.inputs, layer.outputs], values: layer.weights });
    initializers.push({ name: `${p}bias`, dims: [layer.outputs], values: layer.bias });
    nodes.push({ op: 'Gemm', name: `${p}gemm`, inputs: [current, `${p}weight`, `${p}bias`], output: `${p}linear` });
    current = `${p}linear`;
    if (layer.activation !== 'linear') {
      const op = ACTIVATION_OPS[layer.activation];
      const softmax = layer.activation === 'softmax' ? { softmaxAxis: -1 } : {};
      nodes.push({ op, name: `${p}${layer.activation}`, inputs: [current], output: `${p}${layer.activation}`, ...softmax });
      current = `${p}${layer.activation}`;
    }
  });
  // The last node writes the graph output directly: no Identity node needed.
  const last = nodes.pop();
  if (last !== undefined) nodes.push({ ...last, output: opts.outputName });
  return { nodes, initializers };
}

function writeNode(w: ProtobufWriter, node: Node): void {
  for (const input of node.inputs) w.string(NodeProto.input, input);
  w.string(NodeProto.output, node.output);
  w.string(NodeProto.name, node.name);
  w.string(NodeProto.op_type, node.op);
  if (node.op === 'Gemm') {
    // transB = 0 because our weights are already [in][out]; written explicitly for readers' sake.
    w.message(NodeProto.attribute, (a) =>
      a.string(AttributeProto.name, 'transB').uint(AttributeProto.type, AttributeType.INT).uint(AttributeProto.i, 0),
    );
  }
  if (node.softmaxAxis !== undefined) {
    const axis = node.softmaxAxis;
    w.message(NodeProto.attribute, (a) =>
      a.string(AttributeProto.name, 'axis').uint(AttributeProto.type, AttributeType.INT).int(AttributeProto.i, axis),
    );
  }
}

function writeTensor(w: ProtobufWriter, t: Initializer): void {
  for (const d of t.dims) w.uint(TensorProto.dims, d);
  w.uint(TensorProto.data_type, DataType.FLOAT);
  w.string(TensorProto.name, t.name);
  w.bytes(TensorProto.raw_data, float32LittleEndian(t.values));
}

function writeValueInfo(w: ProtobufWriter, name: string, width: number): void {
  w.string(ValueInfoProto.name, name);
  w.message(ValueInfoProto.type, (type) =>
    type.message(TypeProto.tensor_type, (tensor) => {
      tensor.uint(TypeProtoTensor.elem_type, DataType.FLOAT);
      tensor.message(TypeProtoTensor.shape, (shape) => {
        shape.message(TensorShapeProto.dim, (d) => d.string(Dimension.dim_param, BATCH_DIM));
        shape.message(TensorShapeProto.dim, (d) => d.uint(Dimension.dim_value, width));
      });
    }),
  );
}
