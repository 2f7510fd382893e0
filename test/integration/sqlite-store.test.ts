import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from '../../src/engine/crdt/types.ts';
import { SqliteDocStore } from '../../src/engine/store/sqlite-store.ts';
import type { ChangeCodec } from '../../src/engine/store/types.ts';
import { runDocStoreConformance } from '../../src/testing/doc-store-conformance.ts';

const jsonCodec: ChangeCodec = {
  encode: (change) => new TextEncoder().encode(JSON.stringify(change)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Change,
};

runDocStoreConformance('sqlite (file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncpilot-store-'));
  return {
    store: SqliteDocStore.open({ path: join(dir, 'store.db'), codec: jsonCodec }),
    teardown: () => rmSync(dir, { recursive: true, force: true }),
  };
});
runDocStoreConformance('sqlite (:memory:)', () => ({ store: SqliteDocStore.open({ path: ':memory:', codec: jsonCodec }) }));
