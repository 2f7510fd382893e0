import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMPRESSION_SIZE_FEATURES, FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { parseEvent } from '../../src/telemetry/events/validate.ts';
import { SIZE_TARGET_NAME } from '../../training/policies/compression/size-experiment.ts';
import { compressedRatio } from '../../training/policies/compression/size-target.ts';
import {
  COMPRESSION_LABEL_ROWS,
  compressionLabelRow,
  LABEL_SKIP_REASONS,
  type LabelRowResult,
} from '../../training/policies/compression/telemetry-rows.ts';
import { labelEvent, type CompressionEvent } from '../fixtures/compression-labels.ts';

const text = new TextEncoder().encode('Concurrent edits to one field are kept as siblings, so conflicts stay visible. '.repeat(30));

function skipOf(r: LabelRowResult): string | undefined {
  return 'skip' in r ? r.skip : undefined;
}

describe('compression telemetry rows', () => {
  test('a compress outcome with the serving features becomes a row whose label is the real brotli ratio', () => {
    const event = parseEvent(labelEvent(text, { doc: 'doc-7', peer: 'p3' })) as CompressionEvent;
    const r = compressionLabelRow(event);
    assert.ok('row' in r, `skipped: ${skipOf(r)}`);
    assert.equal(r.row.x.length, COMPRESSION_SIZE_FEATURES);
    assert.deepEqual(Array.from(r.row.x), event.data.features);
    assert.equal(r.row.y[0], event.data.encodedBytes / event.data.rawBytes);
    // The same label the corpus rows carry: compressedRatio is the training target.
    assert.ok(Math.abs(r.row.y[0] - compressedRatio(text)) < 1e-12);
    assert.equal(r.row.group, 'telemetry:default/doc:doc-7');
    const byPeer = compressionLabelRow(labelEvent(text, { peer: 'p3' }));
    assert.equal('row' in byPeer ? byPeer.row.group : undefined, 'telemetry:default/peer:p3');
    assert.deepEqual(COMPRESSION_LABEL_ROWS.targetNames, [SIZE_TARGET_NAME]);
  });

  test('an event without a level used the engine default (brotli 4): accepted', () => {
    const e = labelEvent(text);
    const { level: _level, ...data } = e.data;
    assert.ok('row' in compressionLabelRow({ ...e, data }));
  });

  test('events that cannot be rows of this model are skipped, each with its reason', () => {
    const base = labelEvent(text);
    const variants: [string, Partial<CompressionEvent['data']>][] = [
      ['decision', { decision: 'raw', codec: 'raw' }],
      ['decision', { decision: 'batch' }],
      ['codec', { codec: 'gzip' }],
      ['level', { level: 9 }],
      ['featureSchema', { featureSchema: { name: FEATURE_SCHEMA.name, version: FEATURE_SCHEMA.version + 1 } }],
      ['featureSchema', { featureSchema: { name: 'other-features', version: FEATURE_SCHEMA.version } }],
      ['featureCount', { features: base.data.features?.slice(0, COMPRESSION_SIZE_FEATURES - 1) ?? [] }],
      ['featureCount', { features: [...(base.data.features ?? []), 0] }],
      ['size', { encodedBytes: 0 }],
      // Features of another payload than the one whose sizes are reported.
      ['payload', { rawBytes: base.data.rawBytes * 2 }],
    ];
    for (const [reason, data] of variants) {
      const e = parseEvent({ ...base, data: { ...base.data, ...data } });
      assert.equal(skipOf(compressionLabelRow(e)), reason, JSON.stringify(data).slice(0, 80));
    }
    const { features: _f, featureSchema: _s, ...bare } = base.data;
    assert.equal(skipOf(compressionLabelRow({ ...base, data: bare })), 'featureSchema', 'no features at all');
    assert.ok(variants.every(([r]) => (LABEL_SKIP_REASONS as readonly string[]).includes(r)));
  });

  test('other event families are not labels', () => {
    const access = parseEvent({
      type: 'syncpilot.access.v1',
      id: 'a1',
      time: 1,
      tenant: 'default',
      key: 'd',
      data: { doc: 'd', peer: 'p', action: 'open' },
    });
    assert.equal(skipOf(compressionLabelRow(access)), 'decision');
  });
});
