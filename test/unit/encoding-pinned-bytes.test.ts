/**
 * Pins the exact bytes of the stored change format (binaryChangeCodec, which the SQLite store
 * persists) and of wire frames. The round-trip property tests accept any self-consistent format;
 * these fail on any change to the bytes, so an encoding refactor is checked against what is
 * already stored and what peers already speak. Values were recorded before the byte-IO and
 * change-encoding merge; change them only together with a format version bump.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { binaryChangeCodec } from '../../src/engine/protocol/change-codec.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import type { ProtocolMessage } from '../../src/engine/protocol/messages.ts';
import { generatedChanges, PINNED_CHANGES, pinnedMessages } from '../helpers/encoding-fixtures.ts';

/** Short encodings as hex; long ones as the SHA-256 of their bytes. */
function pin(bytes: Uint8Array): string {
  return bytes.length <= 100 ? Buffer.from(bytes).toString('hex') : `sha256:${sha256([bytes])}`;
}

function sha256(parts: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const CHANGE_BYTES: Readonly<Record<string, string>> = {
  everyOp: 'sha256:a424ca35873007c32816b7dfe99a9ec6ecb1efc1cabd77776643f951d4b0a36e',
  keystroke: '01020b636c69656e742d376633610b636c69656e742d30623231009208d7980309fbbcf4d7a7330184030105020c01010165',
  firstChangeFloatTime: '01010361406200010104000000000000e03f0101000003ffffffffffffff0f00',
  negativeZeroTimeNoSelfDep:
    '0102017801790002070d0000000000000080010303010001660500000000000000800001000167059c7500883ce4377e0007020305000000000000d03f',
  manyDeps: 'sha256:58c4ee2e05530f3d8a3788abc1a70e460ed06f3637ba1e88852748e3f75df9e8',
  largeCounters:
    '010203626967056f746865720080808080802080808080808080080bc0843d01ffffffffffffff0f03050280808080080204026162060280808080080300818080808080800803fcffffffffffff0700020300016b010002',
  longStrings: 'sha256:8d57707ccc4241f842ab43a3b6fd11a4614487d4b160ee915e5cf4d5d8395d6f',
};

const FRAME_BYTES: Readonly<Record<string, string>> = {
  hello: '010100000201020b636c69656e742d376633611073796e6370696c6f742d746573742f310106746f6b2e656e020002010568696e7473',
  helloNoToken: '010100000101016100000000',
  welcome: '010200000106706565722d310973796e6370696c6f7402010300808040',
  subscribe: '010300000305616c69636503626f620363406405646f632d31030003010002ffffffffffffff0f',
  sync: 'sha256:8c2e42021ca5ac641a93c1829b02752120d0ae842aabd8894d3e42833fb9a55d',
  changes: 'sha256:237e301f871da9c59d05b337c2131d55b860b2421faee4dadc54d4d9e1e239cc',
  keystroke: '01050000020b636c69656e742d376633610b636c69656e742d3062323105646f632d3101009208d7980309fbbcf4d7a7330184030105020c01010165',
  ack: '0106000005646f632d3105616c696365ac02',
  unsubscribe: '0107000005646f632d31',
  error: '010800001553505f4552525f4348414e47455f494e56414c494407726566757365640605646f632d310103626f6204',
  errorFatal: '010800001653505f4552525f4652414d455f4d414c464f524d45440001',
  hint: '010900000870726566657463680105646f632d32347b22646f6373223a5b2261222c2262225d2c2273636f7265223a302e37352c226e6573746564223a5b6e756c6c2c747275655d7d',
  hintNoDoc: '01090000016b0006227465787422',
  ping: '010a000003959aef3a',
  pong: '010b000005000000000000e0bf',
};

const OPTIONS = { maxFrameBytes: 1 << 24 };

describe('pinned encodings', () => {
  test('binaryChangeCodec writes exactly the recorded bytes and reads them back', () => {
    const actual: Record<string, string> = {};
    for (const [name, change] of Object.entries(PINNED_CHANGES)) {
      const bytes = binaryChangeCodec.encode(change);
      actual[name] = pin(bytes);
      assert.deepEqual(binaryChangeCodec.decode(bytes), change, name);
    }
    assert.deepEqual(actual, CHANGE_BYTES);
  });

  test('raw frames of every message type are exactly the recorded bytes and read back', () => {
    const actual: Record<string, string> = {};
    for (const [name, message] of Object.entries(pinnedMessages())) {
      const bytes = encodeFrame(message);
      actual[name] = pin(bytes);
      assert.deepEqual(decodeFrame(bytes, OPTIONS).message, message, name);
    }
    assert.deepEqual(actual, FRAME_BYTES);
  });

  test('600 generated changes: stored bytes and CHANGES / SYNC frames match the recorded digests', () => {
    const changes = generatedChanges(2024, 600);
    const stored = changes.map((c) => binaryChangeCodec.encode(c));
    assert.equal(
      stored.reduce((n, b) => n + b.length, 0),
      101_909,
    );
    assert.equal(sha256(stored), 'c7fd6811588ead1745390c631205a2305de1d30c88a6e1e0a7ce776af90c93df');
    const frames: Uint8Array[] = [];
    for (let i = 0; i < changes.length; i += 6) {
      const batch = changes.slice(i, i + 6);
      const message: ProtocolMessage =
        i % 12 === 0
          ? { type: 'CHANGES', doc: 'd', changes: batch }
          : { type: 'SYNC', doc: 'd', changes: batch, complete: false, clock: { a: i } };
      const frame = encodeFrame(message);
      assert.deepEqual(decodeFrame(frame, OPTIONS).message, message);
      frames.push(frame);
    }
    assert.equal(sha256(frames), 'ba3dbcc8af4179be46896259def0894fef381232f9495a66e75f0c48642e53ac');
  });
});
