/** What `syncpilot demo` reports; `--json` prints exactly this object. */
export interface DemoSummary {
  readonly trace: string;
  readonly traceKind: string;
  readonly converged: boolean;
  readonly matchesEndContent: boolean | null;
  readonly complete: boolean;
  readonly ops: number;
  readonly clients: number;
  readonly docs: number;
  readonly writers: number;
  readonly readers: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: number };
  readonly opsPerSec: number;
  readonly elapsedMs: number;
  readonly bytes: { readonly sent: number; readonly received: number };
  /**
   * Telemetry counts after the final flush: `delivered` is what reached the sink's store (the
   * embedded log, or acknowledged by the Kafka broker); `written` is the same number, kept for
   * earlier readers of this JSON.
   */
  readonly telemetry: {
    readonly sink: 'embedded' | 'kafka' | 'none';
    readonly emitted: number;
    readonly written: number;
    readonly delivered: number;
    readonly dropped: number;
  };
  readonly endContentChars: number | null;
  readonly problems: readonly string[];
}

const n = (x: number): string => x.toLocaleString('en-US');
const mb = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} MB` : `${(x / 1e3).toFixed(1)} kB`);

function telemetryOutcome(t: DemoSummary['telemetry']): string {
  const dropped = t.dropped > 0 ? `, ${n(t.dropped)} dropped` : '';
  switch (t.sink) {
    case 'kafka':
      return `${n(t.delivered)} acknowledged by Kafka${dropped}`;
    case 'embedded':
      return `${n(t.delivered)} written to the embedded log${dropped}`;
    case 'none':
      return 'not recorded (telemetry sink: none)';
  }
}

/** The human-readable summary of a demo run. */
export function formatDemoSummary(s: DemoSummary): string {
  const convergence = s.converged
    ? `yes: every replica equals the server${s.matchesEndContent === true ? ` and the trace's endContent (${n(s.endContentChars ?? 0)} chars)` : ''}`
    : 'NO';
  const lines = [
    '',
    `syncpilot demo: ${s.trace} (${s.traceKind})${s.complete ? '' : ' — stopped early by --duration'}`,
    `  clients      ${s.clients} (${s.docs} document${s.docs === 1 ? '' : 's'}, ${s.writers} writers, ${s.readers} readers)`,
    `  ops          ${n(s.ops)} edits replayed`,
    `  bytes        ${mb(s.bytes.sent)} sent, ${mb(s.bytes.received)} received by clients`,
    `  converged    ${convergence}`,
    `  latency      p50 ${s.latencyMs.p50.toFixed(2)} ms, p99 ${s.latencyMs.p99.toFixed(2)} ms, end to end (${n(s.latencyMs.samples)} deliveries)`,
    `  throughput   ${n(s.opsPerSec)} edits/s over ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  telemetry    ${n(s.telemetry.emitted)} events emitted, ${telemetryOutcome(s.telemetry)}`,
  ];
  if (s.problems.length > 0) lines.push('  problems', ...s.problems.map((p) => `    - ${p}`));
  return `${lines.join('\n')}\n`;
}
