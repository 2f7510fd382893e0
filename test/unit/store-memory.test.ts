import type { Change } from '../../src/engine/crdt/types.ts';
import { MemoryDocStore } from '../../src/engine/store/memory-store.ts';
import type { ChangeCodec } from '../../src/engine/store/types.ts';
import { runDocStoreConformance } from '../../src/testing/doc-store-conformance.ts';

const jsonCodec: ChangeCodec = {
  encode: (change) => new TextEncoder().encode(JSON.stringify(change)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Change,
};

runDocStoreConformance('memory (encoded with a JSON codec)', () => ({ store: new MemoryDocStore({ codec: jsonCodec }) }));
runDocStoreConformance('memory (structured clones)', () => ({ store: new MemoryDocStore() }));
