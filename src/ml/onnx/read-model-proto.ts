import { SyncPilotError } from '../../core/errors.ts';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto } from './onnx-fields.ts';
import { corrupt, ProtobufReader, readPackedFloats, readPackedInt64 } from './protobuf-reader.ts';
import { WireType } from './protobuf-writer.ts';
import { readValueInfo, type ValueInfoLite } from './read-value-info.ts';

export type { DimLite, ValueInfoLite } from './read-value-info.ts';

/**
 * Parses ONNX bytes into the plain structures below: only the fields our subset can use are kept;
 * unknown fields are skipped as protobuf prescribes, and the few known fields that would change
 * the meaning of what we keep (external or sparse tensor data, data types other than float32) are
 * refused. Interpreting the graph is `decodeOnnxModel`'s job.
 */

export interface OpsetLite {
  readonly domain: string;
  readonly version: number;
}

/** A float32 tensor (the only element type our subset has). */
export interface TensorLite {
  readonly name: string;
  readonly dims: readonly number[];
  readonly values: Float32Array;
}

export interface AttributeLite {
  readonly name: string;
  readonly type: number;
  readonly f?: number;
  readonly i?: number;
  /** Whether a field we never use (s, t, g, floats, ints, strings …) is set. */
  readonly other: boolean;
}

export interface NodeLite {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly AttributeLite[];
}

export interface GraphLite {
  readonly nodes: readonly NodeLite[];
  readonly initializers: readonly TensorLite[];
  readonly inputs: readonly ValueInfoLite[];
  readonly outputs: readonly ValueInfoLite[];
  readonly hasSparseInitializers: boolean;
}

export interface ModelLite {
  readonly irVersion?: number;
  readonly opsets: readonly OpsetLite[];
  readonly graph?: GraphLite;
  readonly producerName?: string;
  readonly docString?: string;
}

/**
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the bytes are not a well-formed ModelProto
 * (truncation, bad lengths, wrong wire types, invalid UTF-8, tensor data that disagrees with its
 * dims); `SP_ERR_MODEL_MISMATCH` for a tensor outside our subset (not float32, external or
 * segmented data)
 */
export function readModelProto(bytes: Uint8Array): ModelLite {
  const r = new ProtobufReader(bytes, 'ModelProto');
  let irVersion: number | undefined;
  let graph: GraphLite | undefined;
  let producerName: string | undefined;
  let docString: string | undefined;
  const opsets: OpsetLite[] = [];
  while (!r.done) {
    const tag = r.tag();
    switch (tag.field) {
      case ModelProto.ir_version:
        r.expect(tag, WireType.VARINT);
        irVersion = r.int64();
        break;
      case ModelProto.producer_name:
        r.expect(tag, WireType.LEN);
        producerName = r.string();
        break;
      case ModelProto.doc_string:
        r.expect(tag, WireType.LEN);
        docString = r.string();
        break;
      case ModelProto.graph:
        r.expect(tag, WireType.LEN);
        // Protobuf would merge a repeated singular message; refusing it keeps one reading of the file.
        if (graph !== undefined) throw corrupt('ModelProto: graph appears twice');
        graph = readGraph(r.bytes());
        break;
      case ModelProto.opset_import:
        r.expect(tag, WireType.LEN);
        opsets.push(readOpset(r.bytes()));
        break;
      default:
        r.skip(tag);
    }
  }
  return {
    opsets,
    ...(irVersion === undefined ? {} : { irVersion }),
    ...(graph === undefined ? {} : { graph }),
    ...(producerName === undefined ? {} : { producerName }),
    ...(docString === undefined ? {} : { docString }),
  };
}

function readOpset(bytes: Uint8Array): OpsetLite {
  const r = new ProtobufReader(bytes, 'OperatorSetIdProto');
  let domain = '';
  let version = -1;
  while (!r.done) {
    const tag = r.tag();
    if (tag.field === OperatorSetIdProto.domain) {
      r.expect(tag, WireType.LEN);
      domain = r.string();
    } else if (tag.field === OperatorSetIdProto.version) {
      r.expect(tag, WireType.VARINT);
      version = r.int64();
    } else r.skip(tag);
  }
  return { domain, version };
}

function readGraph(bytes: Uint8Array): GraphLite {
  const r = new ProtobufReader(bytes, 'GraphProto');
  const nodes: NodeLite[] = [];
  const initializers: TensorLite[] = [];
  const inputs: ValueInfoLite[] = [];
  const outputs: ValueInfoLite[] = [];
  let hasSparseInitializers = false;
  while (!r.done) {
    const tag = r.tag();
    switch (tag.field) {
      case GraphProto.node:
        r.expect(tag, WireType.LEN);
        nodes.push(readNode(r.bytes()));
        break;
      case GraphProto.initializer:
        r.expect(tag, WireType.LEN);
        initializers.push(readTensor(r.bytes()));
        break;
      case GraphProto.input:
        r.expect(tag, WireType.LEN);
        inputs.push(readValueInfo(r.bytes()));
        break;
      case GraphProto.output:
        r.expect(tag, WireType.LEN);
        outputs.push(readValueInfo(r.bytes()));
        break;
      case GraphProto.sparse_initializer:
        hasSparseInitializers = true;
        r.skip(tag);
        break;
      default:
        r.skip(tag);
    }
  }
  return { nodes, initializers, inputs, outputs, hasSparseInitializers };
}

function readNode(bytes: Uint8Array): NodeLite {
  const r = new ProtobufReader(bytes, 'NodeProto');
  let name = '';
  let opType = '';
  let domain = '';
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes: AttributeLite[] = [];
  while (!r.done) {
    const tag = r.tag();
    switch (tag.field) {
      case NodeProto.input:
        r.expect(tag, WireType.LEN);
        inputs.push(r.string());
        break;
      case NodeProto.output:
        r.expect(tag, WireType.LEN);
        outputs.push(r.string());
        break;
      case NodeProto.name:
        r.expect(tag, WireType.LEN);
        name = r.string();
        break;
      case NodeProto.op_type:
        r.expect(tag, WireType.LEN);
        opType = r.string();
        break;
      case NodeProto.domain:
        r.expect(tag, WireType.LEN);
        domain = r.string();
        break;
      case NodeProto.attribute:
        r.expect(tag, WireType.LEN);
        attributes.push(readAttribute(r.bytes()));
        break;
      default:
        r.skip(tag);
    }
  }
  return { name, opType, domain, inputs, outputs, attributes };
}

function readAttribute(bytes: Uint8Array): AttributeLite {
  const r = new ProtobufReader(bytes, 'AttributeProto');
  let name = '';
  let type = 0;
  let f: number | undefined;
  let i: number | undefined;
  let other = false;
  while (!r.done) {
    const tag = r.tag();
    switch (tag.field) {
      case AttributeProto.name:
        r.expect(tag, WireType.LEN);
        name = r.string();
        break;
      case AttributeProto.type:
        r.expect(tag, WireType.VARINT);
        type = r.int64();
        break;
      case AttributeProto.f:
        r.expect(tag, WireType.FIXED32);
        f = r.float();
        break;
      case AttributeProto.i:
        r.expect(tag, WireType.VARINT);
        i = r.int64();
        break;
      case AttributeProto.s:
      case AttributeProto.t:
      case AttributeProto.g:
      case AttributeProto.floats:
      case AttributeProto.ints:
      case AttributeProto.strings:
        other = true;
        r.skip(tag);
        break;
      default:
        r.skip(tag);
    }
  }
  return { name, type, other, ...(f === undefined ? {} : { f }), ...(i === undefined ? {} : { i }) };
}

function readTensor(bytes: Uint8Array): TensorLite {
  const r = new ProtobufReader(bytes, 'TensorProto');
  let name = '';
  let dataType: number = DataType.UNDEFINED;
  const dims: number[] = [];
  const floatParts: Float32Array[] = [];
  let raw: Uint8Array | undefined;
  let elsewhere = false;
  while (!r.done) {
    const tag = r.tag();
    switch (tag.field) {
      case TensorProto.dims:
        // Repeated scalars may arrive packed or one by one; readers must accept both.
        if (tag.wire === WireType.LEN) dims.push(...readPackedInt64(r.bytes(), 'TensorProto.dims'));
        else dims.push(r.int64Field(tag));
        break;
      case TensorProto.data_type:
        dataType = r.int64Field(tag);
        break;
      case TensorProto.float_data:
        if (tag.wire === WireType.LEN) floatParts.push(readPackedFloats(r.bytes(), 'TensorProto.float_data'));
        else {
          r.expect(tag, WireType.FIXED32);
          floatParts.push(Float32Array.of(r.float()));
        }
        break;
      case TensorProto.name:
        r.expect(tag, WireType.LEN);
        name = r.string();
        break;
      case TensorProto.raw_data:
        r.expect(tag, WireType.LEN);
        raw = r.bytes();
        break;
      case TensorProto.segment:
      case TensorProto.external_data:
        elsewhere = true;
        r.skip(tag);
        break;
      case TensorProto.data_location:
        if (r.int64Field(tag) !== 0) elsewhere = true;
        break;
      default:
        r.skip(tag);
    }
  }
  const label = `tensor "${name}"`;
  if (elsewhere) throw mismatch(`${label} keeps its data outside the model file (external or segmented)`);
  if (dataType !== DataType.FLOAT) throw mismatch(`${label} has data type ${dataType}; only float32 (1) is supported`);
  let count = 1;
  for (const d of dims) {
    if (d < 0) throw corrupt(`${label} has a negative dimension ${d}`);
    count *= d;
  }
  const floats = concat(floatParts);
  if (raw !== undefined && floats.length > 0) throw corrupt(`${label} has both raw_data and float_data`);
  const values = raw === undefined ? floats : readPackedFloats(raw, `${label} raw_data`);
  if (values.length !== count) throw corrupt(`${label} holds ${values.length} values, its dims [${dims.join(', ')}] need ${count}`);
  return { name, dims, values };
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function mismatch(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_MISMATCH', `ONNX model is outside the supported subset: ${message}`);
}
