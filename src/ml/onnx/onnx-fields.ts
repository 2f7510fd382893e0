/**
 * Field numbers and enum values of the ONNX messages we read and write, transcribed from
 * onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto, `package onnx`, proto2).
 * Field numbers are part of ONNX's compatibility promise and never change; only the ones our
 * codec touches are listed.
 */

export const ModelProto = {
  ir_version: 1,
  producer_name: 2,
  producer_version: 3,
  domain: 4,
  model_version: 5,
  doc_string: 6,
  graph: 7,
  opset_import: 8,
  /** Present in IR ≥ 8: local functions a node may call; outside our subset. */
  functions: 25,
} as const;

export const GraphProto = {
  node: 1,
  name: 2,
  initializer: 5,
  doc_string: 10,
  input: 11,
  output: 12,
  value_info: 13,
  /** Sparse initializers (IR ≥ 6); outside our subset. */
  sparse_initializer: 15,
} as const;

export const NodeProto = {
  input: 1,
  output: 2,
  name: 3,
  op_type: 4,
  attribute: 5,
  doc_string: 6,
  domain: 7,
} as const;

export const AttributeProto = {
  name: 1,
  f: 2,
  i: 3,
  s: 4,
  t: 5,
  g: 6,
  floats: 7,
  ints: 8,
  strings: 9,
  type: 20,
} as const;

/** `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
} as const;

export const TensorProto = {
  dims: 1,
  data_type: 2,
  segment: 3,
  float_data: 4,
  name: 8,
  raw_data: 9,
  /** Data kept in another file: outside our subset (a model is one self-contained file). */
  external_data: 13,
  data_location: 14,
} as const;

/** `TensorProto.DataType`: we only use FLOAT (float32). */
export const DataType = { UNDEFINED: 0, FLOAT: 1 } as const;

export const ValueInfoProto = { name: 1, type: 2, doc_string: 3 } as const;

export const TypeProto = { tensor_type: 1 } as const;

/** `TypeProto.Tensor`. */
export const TypeProtoTensor = { elem_type: 1, shape: 2 } as const;

export const TensorShapeProto = { dim: 1 } as const;

/** `TensorShapeProto.Dimension`. */
export const Dimension = { dim_value: 1, dim_param: 2 } as const;

export const OperatorSetIdProto = { domain: 1, version: 2 } as const;

/** The IR version and default-domain opset our encoder writes (ONNX 1.10+; onnxruntime ≥ 1.10). */
export const WRITTEN_IR_VERSION = 8;
export const WRITTEN_OPSET = 13;
