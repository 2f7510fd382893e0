#!/usr/bin/env node
// Kafka health probe with no client library: one TCP connection, a raw ApiVersions request, then
// a Metadata request (all topics) at a version both sides speak. Prints one JSON line and exits 0
// when the broker answered both and named a live controller, 1 otherwise.
//
// Usage: node scripts/services/kafka-probe.mjs [host:port[,host:port...]] [--timeout MS] [--expect-topic NAME]
// Default address: 127.0.0.1:${KAFKA_PORT:-9092}. Only the first address of a list is probed.
// Why raw: kafkajs is an optional dependency of the product, and a JVM admin tool costs ~2 s per
// poll; this probe answers in a few milliseconds, so up.sh can poll it while the broker boots.
import { connect } from 'node:net';

const API_METADATA = 3;
const API_VERSIONS = 18;
// Non-flexible Metadata versions this probe can encode and decode (v9+ use compact encodings).
const METADATA_MIN = 1;
const METADATA_MAX = 8;

function parseArgs(argv) {
  const out = { address: `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`, timeoutMs: 3000, expectTopics: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout') out.timeoutMs = Number(argv[++i]);
    else if (a === '--expect-topic') out.expectTopics.push(String(argv[++i]));
    else if (a !== undefined && !a.startsWith('-')) out.address = a.split(',')[0].trim();
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

/** Request header v1: api_key, api_version, correlation_id, client_id (nullable string). */
function frame(apiKey, apiVersion, correlationId, body) {
  const clientId = Buffer.from('syncpilot-probe');
  const header = Buffer.alloc(10 + clientId.length);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  clientId.copy(header, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length, 0);
  return Buffer.concat([size, header, body]);
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  int8() {
    const v = this.buf.readInt8(this.pos);
    this.pos += 1;
    return v;
  }
  int16() {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32() {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  string() {
    const n = this.int16();
    if (n < 0) return null;
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  array(item) {
    const n = this.int32();
    const out = [];
    for (let i = 0; i < n; i++) out.push(item());
    return out;
  }
}

/** Sends frames one at a time over one socket and resolves each response body (after correlation id). */
function openConnection(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    let pending = null;
    let buffered = Buffer.alloc(0);
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (pending) pending.reject(err);
      else reject(err);
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const size = buffered.readInt32BE(0);
      if (buffered.length < 4 + size) return;
      const body = buffered.subarray(8, 4 + size); // skip size and correlation id
      buffered = buffered.subarray(4 + size);
      const p = pending;
      pending = null;
      p?.resolve(body);
    });
    socket.on('close', () => {
      if (pending) pending.reject(new Error('broker closed the connection'));
    });
    socket.on('connect', () => {
      resolve({
        request(buf) {
          return new Promise((res, rej) => {
            pending = { resolve: res, reject: rej };
            socket.write(buf);
          });
        },
        close() {
          clearTimeout(timer);
          socket.destroy();
        },
      });
    });
  });
}

function metadataBody(version) {
  const parts = [];
  const topics = Buffer.alloc(4);
  topics.writeInt32BE(-1, 0); // null array: all topics
  parts.push(topics);
  if (version >= 4) parts.push(Buffer.from([0])); // allow_auto_topic_creation = false
  if (version >= 8) parts.push(Buffer.from([0, 0])); // no authorized-operations lists
  return Buffer.concat(parts);
}

function parseMetadata(body, version) {
  const r = new Reader(body);
  if (version >= 3) r.int32(); // throttle_time_ms
  const brokers = r.array(() => {
    const nodeId = r.int32();
    const host = r.string();
    const port = r.int32();
    r.string(); // rack
    return { nodeId, host, port };
  });
  const clusterId = version >= 2 ? r.string() : null;
  const controllerId = r.int32();
  const topics = r.array(() => {
    const errorCode = r.int16();
    const name = r.string();
    r.int8(); // is_internal
    const partitions = r.array(() => {
      const partitionError = r.int16();
      const partition = r.int32();
      const leader = r.int32();
      if (version >= 7) r.int32(); // leader_epoch
      r.array(() => r.int32()); // replicas
      r.array(() => r.int32()); // isr
      if (version >= 5) r.array(() => r.int32()); // offline replicas
      return { partition, leader, errorCode: partitionError };
    });
    if (version >= 8) r.int32(); // topic_authorized_operations
    return { name, errorCode, partitions: partitions.length, leaderless: partitions.filter((p) => p.leader < 0).length };
  });
  return { brokers, clusterId, controllerId, topics };
}

async function probe({ address, timeoutMs, expectTopics }) {
  const idx = address.lastIndexOf(':');
  const host = address.slice(0, idx) || '127.0.0.1';
  const port = Number(address.slice(idx + 1));
  const conn = await openConnection(host, port, timeoutMs);
  try {
    const av = new Reader(await conn.request(frame(API_VERSIONS, 0, 1, Buffer.alloc(0))));
    const errorCode = av.int16();
    if (errorCode !== 0) throw new Error(`ApiVersions failed with error code ${errorCode}`);
    const apis = av.array(() => ({ key: av.int16(), min: av.int16(), max: av.int16() }));
    const meta = apis.find((a) => a.key === API_METADATA);
    if (!meta) throw new Error('broker does not list the Metadata API');
    const version = Math.min(meta.max, METADATA_MAX);
    if (version < Math.max(meta.min, METADATA_MIN)) {
      throw new Error(`broker speaks Metadata v${meta.min}-v${meta.max}; probe speaks v${METADATA_MIN}-v${METADATA_MAX}`);
    }
    const md = parseMetadata(await conn.request(frame(API_METADATA, version, 2, metadataBody(version))), version);
    const topicNames = md.topics.map((t) => t.name).sort();
    const missing = expectTopics.filter((t) => !topicNames.includes(t));
    const ok = md.brokers.length > 0 && md.controllerId >= 0 && missing.length === 0;
    const why =
      md.brokers.length === 0
        ? 'no brokers in metadata'
        : md.controllerId < 0
          ? 'no active controller'
          : missing.length > 0
            ? `missing topics: ${missing.join(', ')}`
            : undefined;
    return {
      ok,
      ...(why ? { error: why } : {}),
      address,
      apiCount: apis.length,
      metadataVersion: version,
      clusterId: md.clusterId,
      controllerId: md.controllerId,
      brokers: md.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`),
      topics: md.topics.map((t) => ({ name: t.name, partitions: t.partitions, leaderless: t.leaderless, errorCode: t.errorCode })),
    };
  } finally {
    conn.close();
  }
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(String(err instanceof Error ? err.message : err));
  process.exit(2);
}
try {
  const result = await probe(args);
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
} catch (err) {
  console.log(JSON.stringify({ ok: false, address: args.address, error: err instanceof Error ? err.message : String(err) }));
  process.exit(1);
}
