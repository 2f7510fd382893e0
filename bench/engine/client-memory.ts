import { ChildHandle } from './child-ipc.ts';
import type { ClientMemoryResult, PerItem } from './client-memory-child.ts';
import { median, round } from './stats.ts';

/** The budget of the issue: a client's runtime (document content excluded) under 1 MB. */
export const CLIENT_MEMORY_BUDGET_BYTES = 2 ** 20;

/** Per-client memory in KiB (median over runs). */
export interface ClientMemoryFigures {
  readonly clients: number;
  readonly runs: number;
  /** heapUsed + external + arrayBuffers, as the issue defines it. Node counts arrayBuffers inside external too, so this over-counts them (conservative). */
  readonly runtimeKiB: number;
  /** heapUsed + external: the same without counting array buffers twice. */
  readonly runtimeKiBNoDoubleCount: number;
  /** The runtime split: heapUsed, external, arrayBuffers, and the RSS delta (native memory too; noisy, not in the budget). */
  readonly runtimeParts: PerItem;
  /** A bare document with the same small content (heapUsed + external + arrayBuffers), subtracted above. */
  readonly docContentKiB: number;
  /** The client with its document, content included (heapUsed + external + arrayBuffers). */
  readonly clientWithDocKiB: number;
}

const kib = (bytes: number): number => round(bytes / 1024, 1);
const total = (p: PerItem): number => p.heapUsed + p.external + p.arrayBuffers;

/**
 * Per-client memory of ours (`SyncClient` + one open `ClientDoc`) or of the Yjs reference
 * (`Y.Doc` + a `ws` socket), measured in a fresh child process against a fresh server child, `runs` times.
 */
export async function measureClientMemory(kind: 'ours' | 'yjs', clients: number, runs: number): Promise<ClientMemoryFigures> {
  const results: ClientMemoryResult[] = [];
  for (let r = 0; r < runs; r++) {
    const server =
      kind === 'ours' ? await ChildHandle.start('./server-child.ts', ['sqlite']) : await ChildHandle.start('./yjs-relay-child.ts', []);
    try {
      const child = await ChildHandle.start('./client-memory-child.ts', [kind, server.url, String(clients)]);
      results.push((await child.stats()) as unknown as ClientMemoryResult);
      await child.close();
    } finally {
      await server.close();
    }
  }
  const runtime = results.map((r) => ({
    heapUsed: r.clientWithDoc.heapUsed - r.docContent.heapUsed,
    external: r.clientWithDoc.external - r.docContent.external,
    arrayBuffers: r.clientWithDoc.arrayBuffers - r.docContent.arrayBuffers,
    rss: r.clientWithDoc.rss - r.docContent.rss,
  }));
  return {
    clients,
    runs,
    runtimeKiB: kib(median(runtime.map(total))),
    runtimeKiBNoDoubleCount: kib(median(runtime.map((p) => p.heapUsed + p.external))),
    runtimeParts: {
      heapUsed: kib(median(runtime.map((p) => p.heapUsed))),
      external: kib(median(runtime.map((p) => p.external))),
      arrayBuffers: kib(median(runtime.map((p) => p.arrayBuffers))),
      rss: kib(median(runtime.map((p) => p.rss))),
    },
    docContentKiB: kib(median(results.map((r) => total(r.docContent)))),
    clientWithDocKiB: kib(median(results.map((r) => total(r.clientWithDoc)))),
  };
}
