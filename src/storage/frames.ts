import { crc32 } from 'node:zlib';
import type { DiskFile } from './fs.js';

/**
 * The one on-disk framing for journal and snapshot files: `[u32 length][u32 crc32][payload]`,
 * little-endian. A frame whose length is zero, runs past the end of the file, or whose checksum does
 * not match is damaged.
 */
export const FRAME_HEADER = 8;

export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, FRAME_HEADER);
  return out;
}

export type ScanResult =
  /** `payload` is a view of the scanner's buffer, valid until the next call. */
  | { kind: 'frame'; payload: Buffer; offset: number; next: number }
  | { kind: 'end' }
  | { kind: 'damaged'; offset: number; reason: string };

export interface ScannerOptions {
  /** Bytes read per system call; replay is sequential I/O, so reads are large. */
  readonly chunkBytes?: number;
  /** Frames longer than this count as damaged. */
  readonly maxLength?: number;
  /** A cheap check of a checksummed payload's first bytes, so that resynchronising skips look-alikes. */
  readonly plausible?: (payload: Buffer) => boolean;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads a file's frames front to back in large sequential reads, holding one chunk (or one frame,
 * when a frame is larger) in memory: never the whole file. After a damaged frame, `resync()` looks
 * for the next offset where a valid frame starts, so one bad frame never hides the ones after it.
 */
export class FrameScanner {
  private buf = Buffer.alloc(0);
  /** File offset of `buf[0]`, and how many bytes of `buf` hold file data. */
  private bufStart = 0;
  private bufLen = 0;
  private position = 0;
  private readonly chunkBytes: number;
  private readonly maxLength: number;

  constructor(
    private readonly file: DiskFile,
    readonly size: number,
    private readonly options: ScannerOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    this.maxLength = options.maxLength ?? 1 << 30;
  }

  /**
   * The frame at the current position when it is already in memory and valid (the common case,
   * answered without a promise), else undefined: then `next()` reads on and says what is there.
   */
  nextBuffered(): (ScanResult & { kind: 'frame' }) | undefined {
    const at = this.position;
    const p = at - this.bufStart;
    if (p < 0 || p + FRAME_HEADER > this.bufLen) return undefined;
    const buf = this.buf;
    const length = buf.readUInt32LE(p);
    const end = p + FRAME_HEADER + length;
    if (length === 0 || length > this.maxLength || end > this.bufLen) return undefined;
    const payload = buf.subarray(p + FRAME_HEADER, end);
    if ((this.options.plausible && !this.options.plausible(payload)) || crc32(payload) !== buf.readUInt32LE(p + 4)) return undefined;
    this.position = at + FRAME_HEADER + length;
    return { kind: 'frame', payload, offset: at, next: this.position };
  }

  /** The frame at the current position (and moves past it when valid). */
  async next(): Promise<ScanResult> {
    const buffered = this.nextBuffered();
    if (buffered !== undefined) return buffered;
    const at = this.position;
    if (at >= this.size) return { kind: 'end' };
    const reason = await this.check(at);
    if (reason !== undefined) return { kind: 'damaged', offset: at, reason };
    const p = at - this.bufStart;
    const length = this.buf.readUInt32LE(p);
    this.position = at + FRAME_HEADER + length;
    return { kind: 'frame', payload: this.buf.subarray(p + FRAME_HEADER, p + FRAME_HEADER + length), offset: at, next: this.position };
  }

  /**
   * Moves from a damaged frame at the current position to the next offset where a valid (and
   * plausible) frame starts, or to the end of the file; returns that offset.
   */
  async resync(): Promise<number> {
    for (let at = this.position + 1; at + FRAME_HEADER < this.size; at++) {
      if ((await this.check(at)) === undefined) return (this.position = at);
    }
    return (this.position = this.size);
  }

  /** Why the frame at `at` is not valid, or undefined when it is. */
  private async check(at: number): Promise<string | undefined> {
    if (!(await this.ensure(at, FRAME_HEADER))) return 'truncated frame header';
    let p = at - this.bufStart;
    const length = this.buf.readUInt32LE(p);
    if (length === 0) return 'empty frame';
    if (length > this.maxLength || at + FRAME_HEADER + length > this.size) return 'frame runs past the end of the file';
    if (!(await this.ensure(at, FRAME_HEADER + length))) return 'frame runs past the end of the file';
    p = at - this.bufStart;
    const payload = this.buf.subarray(p + FRAME_HEADER, p + FRAME_HEADER + length);
    if (this.options.plausible && !this.options.plausible(payload)) return 'implausible record';
    if (crc32(payload) !== this.buf.readUInt32LE(p + 4)) return 'checksum mismatch';
    return undefined;
  }

  /** Makes file bytes `[at, at + n)` available in `buf`; false when the file is shorter. */
  private async ensure(at: number, n: number): Promise<boolean> {
    if (at + n > this.size) return false;
    if (at >= this.bufStart && at + n <= this.bufStart + this.bufLen) return true;
    const want = Math.max(n, this.chunkBytes);
    const target = this.buf.length >= want ? this.buf : Buffer.allocUnsafe(want);
    let kept = 0;
    const from = at - this.bufStart;
    if (from >= 0 && from < this.bufLen) {
      kept = this.bufLen - from;
      this.buf.copy(target, 0, from, this.bufLen);
    }
    let filled = kept;
    const goal = Math.min(want, this.size - at);
    while (filled < goal) {
      const { bytesRead } = await this.file.read(target, filled, goal - filled, at + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.buf = target;
    this.bufStart = at;
    this.bufLen = filled;
    return filled >= n;
  }
}
