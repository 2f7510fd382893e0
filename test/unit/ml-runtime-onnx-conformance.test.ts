import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { runModelRuntimeConformance } from '../../src/testing/model-runtime-conformance.ts';

runModelRuntimeConformance('onnxruntime-node', () => createOnnxRuntime());
// Two intra-op threads take another path through onnxruntime's kernels: same answers.
runModelRuntimeConformance('onnxruntime-node (2 intra-op threads)', () => createOnnxRuntime({ intraOpThreads: 2 }));
