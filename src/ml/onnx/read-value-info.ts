import { Dimension, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto } from './onnx-fields.ts';
import { ProtobufReader } from './protobuf-reader.ts';
import { WireType } from './protobuf-writer.ts';

/** One dimension: a fixed size, a symbolic name, or unknown. */
export type DimLite = { readonly value: number } | { readonly param: string } | { readonly unknown: true };

export interface ValueInfoLite {
  readonly name: string;
  /** Absent when the type is not a tensor type. */
  readonly elemType?: number;
  /** Absent when the shape is unknown (rank not given). */
  readonly shape?: readonly DimLite[];
}

/**
 * Parses a ValueInfoProto (a graph input or output): its name and, when it is a tensor type, the
 * element type and shape. Other types (sequence, map, optional) leave `elemType` absent.
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the bytes are not well-formed
 */
export function readValueInfo(bytes: Uint8Array): ValueInfoLite {
  const r = new ProtobufReader(bytes, 'ValueInfoProto');
  let name = '';
  let tensor: { elemType?: number; shape?: DimLite[] } = {};
  while (!r.done) {
    const tag = r.tag();
    if (tag.field === ValueInfoProto.name) {
      r.expect(tag, WireType.LEN);
      name = r.string();
    } else if (tag.field === ValueInfoProto.type) {
      r.expect(tag, WireType.LEN);
      tensor = readTensorType(r.bytes());
    } else r.skip(tag);
  }
  return { name, ...tensor };
}

function readTensorType(bytes: Uint8Array): { elemType?: number; shape?: DimLite[] } {
  const r = new ProtobufReader(bytes, 'TypeProto');
  let out: { elemType?: number; shape?: DimLite[] } = {};
  while (!r.done) {
    const tag = r.tag();
    if (tag.field !== TypeProto.tensor_type) {
      r.skip(tag);
      continue;
    }
    r.expect(tag, WireType.LEN);
    const t = new ProtobufReader(r.bytes(), 'TypeProto.Tensor');
    out = {};
    while (!t.done) {
      const inner = t.tag();
      if (inner.field === TypeProtoTensor.elem_type) out.elemType = t.int64Field(inner);
      else if (inner.field === TypeProtoTensor.shape) {
        t.expect(inner, WireType.LEN);
        out.shape = readShape(t.bytes());
      } else t.skip(inner);
    }
  }
  return out;
}

function readShape(bytes: Uint8Array): DimLite[] {
  const r = new ProtobufReader(bytes, 'TensorShapeProto');
  const dims: DimLite[] = [];
  while (!r.done) {
    const tag = r.tag();
    if (tag.field !== TensorShapeProto.dim) {
      r.skip(tag);
      continue;
    }
    r.expect(tag, WireType.LEN);
    const d = new ProtobufReader(r.bytes(), 'TensorShapeProto.Dimension');
    let dim: DimLite = { unknown: true };
    while (!d.done) {
      const inner = d.tag();
      if (inner.field === Dimension.dim_value) dim = { value: d.int64Field(inner) };
      else if (inner.field === Dimension.dim_param) {
        d.expect(inner, WireType.LEN);
        dim = { param: d.string() };
      } else d.skip(inner);
    }
    dims.push(dim);
  }
  return dims;
}
