import { crc32 } from 'node:zlib';
import type { CampaignImage, DedupeImage } from '../../actors/protocol.js';
import { decodeAnalytics, encodeAnalytics } from './analytics-codec.js';
import { FrameScanner } from './frames.js';
import { writeFully, type DiskFile } from './fs.js';

/**
 * Snapshot file layout: frames (see frames.ts) whose payload starts with a kind byte:
 * `H` header JSON, then per campaign a `C` JSON description followed by one `B` frame per array it
 * names (an older file's windows ring, dedupe shards, idempotency shards), and a final `E` frame carrying the count of
 * campaigns and (from version 2) the crc32 of every payload and the length of every byte before it. A file without a valid
 * `E` frame is incomplete or damaged and is never loaded.
 */
const VERSION = 2;
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
  /** Whether one more blob follows with the campaign's analytics (analytics-codec.ts); absent in files written before analytics existed. */
  analytics?: boolean;
}

/** Frames are gathered and written in one writev once this much is waiting (or at the end). */
const FLUSH_BYTES = 4 * 1024 * 1024;
const FLUSH_BUFFERS = 512;

export class SnapshotWriter {
  private position = 0;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  /** crc32 of every payload framed so far, in order. */
  private crc = 0;
  bytes = 0;

  constructor(private readonly file: DiskFile) {}

  async header(boundary: number, createdAt: number): Promise<void> {
    await this.json(KIND.header, { version: VERSION, boundary, createdAt });
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
    // A campaign captures its trailing sums without a ring now; an older image that has one is written as it was.
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
    await this.json(KIND.end, { campaigns, crc: this.crc, bytes: this.bytes });
    await this.flush();
  }

  /** Writes what is queued (the queued arrays are the image's own copies, never written to again). */
  private async flush(): Promise<void> {
    if (this.queued.length === 0) return;
    const buffers = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    this.position += await writeFully(this.file, buffers, this.position);
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
    this.crc = crc32(data, crc32(head.subarray(8, 9), this.crc));
    this.queued.push(head, data);
    this.queuedBytes += head.length + data.length;
    this.bytes += head.length + data.length;
    if (this.queuedBytes >= FLUSH_BYTES || this.queued.length >= FLUSH_BUFFERS) await this.flush();
  }
}

export interface LoadedSnapshot {
  readonly boundary: number;
  readonly version: number;
  readonly campaigns: { image: CampaignImage; seq: number }[];
}

/**
 * Reads a snapshot front to back, checking every frame, the campaign count and (version 2) the crc32
 * of the whole file; throws on any damage. With `load: false` nothing is decoded: a read-back check
 * of a file just written that holds one chunk in memory at a time.
 */
export async function readSnapshot(file: DiskFile, load = true): Promise<LoadedSnapshot> {
  const scanner = new FrameScanner(file, await file.size());
  let crc = 0;
  let bytes = 0;
  const next = async (): Promise<{ kind: number; body: Buffer }> => {
    const r = await scanner.next();
    if (r.kind === 'end') throw new Error('snapshot ends early (no end frame)');
    if (r.kind === 'damaged') throw new Error(`snapshot frame at byte ${r.offset}: ${r.reason}`);
    const kind = r.payload[0];
    if (kind !== KIND.end) {
      crc = crc32(r.payload, crc);
      bytes += r.next - r.offset;
    }
    return { kind, body: r.payload.subarray(1) };
  };
  const expect = async (kind: number): Promise<Buffer> => {
    const f = await next();
    if (f.kind !== kind) throw new Error(`snapshot frame of kind ${f.kind} where ${kind} was expected`);
    return f.body;
  };
  const header = JSON.parse((await expect(KIND.header)).toString()) as { version: number; boundary: number };
  if (header.version !== 1 && header.version !== VERSION) throw new Error(`unknown snapshot version ${header.version}`);
  const campaigns: LoadedSnapshot['campaigns'] = [];
  let count = 0;
  for (;;) {
    const f = await next();
    if (f.kind === KIND.end) {
      const end = JSON.parse(f.body.toString()) as { campaigns: number; crc?: number; bytes?: number };
      if (end.campaigns !== count) throw new Error(`snapshot end frame counts ${end.campaigns} campaigns, the file holds ${count}`);
      if (header.version >= 2 && (end.crc !== crc || end.bytes !== bytes)) throw new Error('snapshot checksum of the whole file does not match');
      if ((await scanner.next()).kind !== 'end') throw new Error('snapshot has bytes after its end frame');
      return { boundary: header.boundary, version: header.version, campaigns };
    }
    if (f.kind !== KIND.campaign) throw new Error(`snapshot frame of kind ${f.kind} where a campaign was expected`);
    count++;
    const meta = JSON.parse(f.body.toString()) as CampaignMeta;
    const blob = async (): Promise<Uint32Array> => {
      const bytes = await expect(KIND.blob);
      if (!load) return EMPTY;
      if (bytes.length % 4 !== 0) throw new Error('snapshot array of a length that is not a multiple of 4');
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
    const dedupe = await table(meta.dedupe);
    const idempotency = meta.idempotency ? { counted: await table(meta.idempotency.counted), duplicate: await table(meta.idempotency.duplicate) } : undefined;
    // The analytics blob is copied out of the scanner's buffer, which the next read reuses.
    const analytics = meta.analytics === true ? Buffer.from(await expect(KIND.blob)) : undefined;
    if (!load) continue;
    const image: CampaignImage = {
      info: meta.info,
      total: meta.total,
      windows: { ring, head: meta.windows.head, hourSum: meta.windows.hourSum, daySum: meta.windows.daySum },
      dedupe,
      idempotency,
      ...(analytics && { analytics: decodeAnalytics(analytics) }),
    };
    campaigns.push({ image, seq: meta.seq });
  }
}

const EMPTY = new Uint32Array(0);
