import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { runModelRuntimeConformance } from '../../src/testing/model-runtime-conformance.ts';

runModelRuntimeConformance('pure JS', () => createJsRuntime());
