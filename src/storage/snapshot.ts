import { crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import type { DedupeImage } from '../../actors/dedupe.js';
import type { CampaignImage } from '../../actors/protocol.js';
import { decodeAnalytics, encodeAnalytics } from '../../actors/analytics-codec.js';
import { readFrame } from './frames.js';

/**
 * Snapshot file layout: frames (see frames.ts) whose payload starts with a kind byte:
 * `H` header JSON, then per campaign a `C` JSON description followed by one `B` frame per array it
 * names (windows ring, dedupe shards, idempotency shards), and a final `E` frame. A file without its
 * `E` frame is incomplete and ignored.
 */
const KIND = { header: 0x48, campaign: 0x43, blob: 0x42, end: 0x45 } as const;

export function snapshotName(boundary: number): string {
  return `snapshot-${String(boundary).padStart(16, '0')}.bin`;
}

interface ShardMeta {
  index: number;
  epoch: number;
  size: number;
}

interface CampaignMeta {
  info: CampaignImage['info'];
  total: number;
  /** Every journal record with seq ≤ this is contained in the image. */
  seq: number;
  windows: { head: number; hourSum: number; daySum: number; ring: boolean };
  dedupe: { ttlMs: number; shards: ShardMeta[] };
  idempotency: { counted: { ttlMs: number; shards: ShardMeta[] }; duplicate: { ttlMs: number; shards: ShardMeta[] } } | null;
  /** Whether one more blob follows with the campaign's analytics (analytics-codec.ts); absent before issue 6. */
  analytics?: boolean;
}

/** Frames are gathered and written in one writev once this much is waiting (or at the end). */
const FLUSH_BYTES = 4 * 1024 * 1024;
const FLUSH_BUFFERS = 512;

export class SnapshotWriter {
  private position = 0;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  bytes = 0;

  constructor(private readonly file: FileHandle) {}

  async header(boundary: number, createdAt: number): Promise<void> {
    await this.json(KIND.header, { version: 1, boundary, createdAt });
  }

  async campaign(image: CampaignImage, seq: number): Promise<void> {
    const shards = (d: DedupeImage) => d.shards.map(({ index, epoch, size }) => ({ index, epoch, size }));
    const meta: CampaignMeta = {
      info: image.info,
      total: image.total,
      seq,
      windows: { head: image.windows.head, hourSum: image.windows.hourSum, daySum: image.windows.daySum, ring: image.windows.ring !== undefined },
      dedupe: { ttlMs: image.dedupe.ttlMs, shards: shards(image.dedupe) },
      idempotency: image.idempotency
        ? {
            counted: { ttlMs: image.idempotency.counted.ttlMs, shards: shards(image.idempotency.counted) },
            duplicate: { ttlMs: image.idempotency.duplicate.ttlMs, shards: shards(image.idempotency.duplicate) },
          }
        : null,
      ...(image.analytics && { analytics: true }),
    };
    await this.json(KIND.campaign, meta);
    if (image.windows.ring) await this.blob(image.windows.ring);
    for (const s of image.dedupe.shards) await this.shard(s);
    if (image.idempotency) {
      for (const s of image.idempotency.counted.shards) await this.shard(s);
      for (const s of image.idempotency.duplicate.shards) await this.shard(s);
    }
    if (image.analytics) {
      const bytes = encodeAnalytics(image.analytics);
      await this.write(KIND.blob, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  }

  async end(campaigns: number): Promise<void> {
    await this.json(KIND.end, { campaigns });
    await this.flush();
  }

  /** Writes what is queued (the queued arrays are the image's own copies, never written to again). */
  private async flush(): Promise<void> {
    if (this.queued.length === 0) return;
    const buffers = this.queued;
    const bytes = this.queuedBytes;
    this.queued = [];
    this.queuedBytes = 0;
    await this.file.writev(buffers, this.position);
    this.position += bytes;
  }

  private json(kind: number, value: unknown): Promise<void> {
    return this.write(kind, Buffer.from(JSON.stringify(value)));
  }

  /** Writes one dedupe shard and lets its table stop keeping pages for the snapshot. */
  private async shard(s: DedupeImage['shards'][number]): Promise<void> {
    await this.blob(s.slots);
    (s as { release?: () => void }).release?.();
  }

  private blob(array: Uint32Array): Promise<void> {
    return this.write(KIND.blob, Buffer.from(array.buffer, array.byteOffset, array.byteLength));
  }

  private async write(kind: number, data: Buffer): Promise<void> {
    const head = Buffer.allocUnsafe(9);
    head.writeUInt32LE(data.length + 1, 0);
    head[8] = kind;
    head.writeUInt32LE(crc32(data, crc32(head.subarray(8, 9))), 4);
    this.queued.push(head, data);
    this.queuedBytes += head.length + data.length;
    this.bytes += head.length + data.length;
    if (this.queuedBytes >= FLUSH_BYTES || this.queued.length >= FLUSH_BUFFERS) await this.flush();
  }
}

export interface LoadedSnapshot {
  readonly boundary: number;
  readonly campaigns: { image: CampaignImage; seq: number }[];
}

/** Reads a whole snapshot; throws if any frame is torn or the end frame is missing. */
export async function readSnapshot(file: FileHandle): Promise<LoadedSnapshot> {
  const { size } = await file.stat();
  let position = 0;
  const next = async (expected: number): Promise<Buffer> => {
    const r = await readFrame(file, position, size);
    if (r.kind !== 'frame') throw new Error(r.kind === 'end' ? 'snapshot ends early' : `snapshot frame at ${position}: ${r.reason}`);
    if (r.payload[0] !== expected) throw new Error(`snapshot frame at ${position} has kind ${r.payload[0]}, expected ${expected}`);
    position = r.next;
    return r.payload.subarray(1);
  };
  const header = JSON.parse((await next(KIND.header)).toString()) as { version: number; boundary: number };
  if (header.version !== 1) throw new Error(`unknown snapshot version ${header.version}`);
  const campaigns: LoadedSnapshot['campaigns'] = [];
  for (;;) {
    const r = await readFrame(file, position, size);
    if (r.kind !== 'frame') throw new Error('snapshot has no end frame');
    if (r.payload[0] === KIND.end) {
      const end = JSON.parse(r.payload.subarray(1).toString()) as { campaigns: number };
      if (end.campaigns !== campaigns.length) throw new Error('snapshot end frame disagrees with its contents');
      return { boundary: header.boundary, campaigns };
    }
    const meta = JSON.parse((await next(KIND.campaign)).toString()) as CampaignMeta;
    const blob = async (): Promise<Uint32Array> => {
      const bytes = await next(KIND.blob);
      const array = new Uint32Array(bytes.length / 4);
      Buffer.from(array.buffer).set(bytes);
      return array;
    };
    const table = async (t: { ttlMs: number; shards: ShardMeta[] }): Promise<DedupeImage> => {
      const shards = [];
      for (const s of t.shards) shards.push({ ...s, slots: await blob() });
      return { ttlMs: t.ttlMs, shards };
    };
    const ring = meta.windows.ring ? await blob() : undefined;
    const image: CampaignImage = {
      info: meta.info,
      total: meta.total,
      windows: { ring, head: meta.windows.head, hourSum: meta.windows.hourSum, daySum: meta.windows.daySum },
      dedupe: await table(meta.dedupe),
      idempotency: meta.idempotency ? { counted: await table(meta.idempotency.counted), duplicate: await table(meta.idempotency.duplicate) } : undefined,
      ...(meta.analytics === true && { analytics: decodeAnalytics(await next(KIND.blob)) }),
    };
    campaigns.push({ image, seq: meta.seq });
  }
}
