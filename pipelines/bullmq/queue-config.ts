import type { ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { SyncPilotError } from '../../src/core/errors.ts';

/** The pipeline's steps, one BullMQ queue each (so train workers can scale apart from the rest). */
export const PIPELINE_STEPS = ['train', 'evaluate', 'promote'] as const;
export type PipelineStep = (typeof PIPELINE_STEPS)[number];

/** Queue names; the trigger queue holds scheduled train requests (BullMQ job schedulers). */
export const QUEUE_NAMES = {
  train: 'syncpilot-train',
  evaluate: 'syncpilot-evaluate',
  promote: 'syncpilot-promote',
  trigger: 'syncpilot-trigger',
} as const;

/** The BullMQ job id of one step of a cycle. */
export function stepJobId(jobId: string, step: PipelineStep): string {
  return `${jobId}-${step}`;
}

/** Where the queues live. */
export const queueConfigSchema = z.strictObject({
  /** `redis://host:port[/db]`. */
  redisUrl: z.string().regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL'),
  /** Key prefix of every queue (BullMQ `prefix`); separate deployments (or tests) on one Redis use different ones. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('syncpilot'),
});
export type QueueConfigInput = z.input<typeof queueConfigSchema>;
export type QueueConfig = z.output<typeof queueConfigSchema>;

/** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` */
export function parseQueueConfig(value: unknown): QueueConfig {
  const r = queueConfigSchema.safeParse(value);
  if (!r.success) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid queue configuration: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** BullMQ connection options: its own ioredis clients, commands retried while Redis is away (BullMQ requires `maxRetriesPerRequest: null`). */
export function connectionOf(config: QueueConfig): ConnectionOptions {
  return { url: config.redisUrl, maxRetriesPerRequest: null };
}
