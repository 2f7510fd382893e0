import type * as TfModule from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { SyncPilotError } from '../src/core/errors.ts';

/** The TensorFlow.js module's type. */
export type Tf = typeof TfModule;

/** TensorFlow.js, initialised, with the name of the backend it runs on. */
export interface TfjsHandle {
  readonly tf: Tf;
  /** `tensorflow` (tfjs-node) or `wasm`. */
  readonly backend: string;
}

let ready: Promise<TfjsHandle> | undefined;

/**
 * Loads TensorFlow.js once per process (later calls share the first call's result): tfjs-node when
 * it can be imported (native, fastest), else `@tensorflow/tfjs` on the WASM backend, its `.wasm`
 * files read from the installed `@tensorflow/tfjs-backend-wasm` package. Nothing TensorFlow-related
 * is imported before this is called. The backend is process-global state in TensorFlow.js.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` when neither can be loaded (with an install hint)
 */
export function initTfjs(): Promise<TfjsHandle> {
  ready ??= load().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

async function load(): Promise<TfjsHandle> {
  const native = await tryTfjsNode();
  if (native !== undefined) return { tf: native, backend: native.getBackend() };
  try {
    const tf = await import('@tensorflow/tfjs');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    // The package's main file lives in its dist/ directory, beside the .wasm binaries.
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    return { tf, backend: tf.getBackend() };
  } catch (err) {
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      'TensorFlow.js could not be loaded: install @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm (or @tensorflow/tfjs-node)',
      { cause: err },
    );
  }
}

/** tfjs-node is an optional peer that is usually absent: its specifier is a variable so TypeScript does not resolve it. */
async function tryTfjsNode(): Promise<Tf | undefined> {
  const specifier = '@tensorflow/tfjs-node';
  let mod: unknown;
  try {
    mod = await import(specifier);
  } catch {
    return undefined;
  }
  // Through ESM, a CommonJS package's namespace may sit on `default`.
  const tf = isTf(mod) ? mod : typeof mod === 'object' && mod !== null && 'default' in mod && isTf(mod.default) ? mod.default : undefined;
  if (tf === undefined) return undefined;
  await tf.ready();
  return tf;
}

function isTf(mod: unknown): mod is Tf {
  return typeof mod === 'object' && mod !== null && 'sequential' in mod && 'getBackend' in mod && 'ready' in mod;
}
