import { crc32 } from 'node:zlib';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * The one on-disk framing for journal and snapshot files: `[u32 length][u32 crc32][payload]`,
 * little-endian. A frame whose length runs past the end of the file or whose checksum does not match
 * marks a torn or corrupt tail.
 */
export const FRAME_HEADER = 8;

export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, FRAME_HEADER);
  return out;
}

export type ReadResult = { kind: 'frame'; payload: Buffer; next: number } | { kind: 'end' } | { kind: 'torn'; reason: string };

/** Reads the frame at `position`; frames larger than `maxLength` count as corrupt. */
export async function readFrame(file: FileHandle, position: number, size: number, maxLength = 1 << 30): Promise<ReadResult> {
  if (position === size) return { kind: 'end' };
  if (size - position < FRAME_HEADER) return { kind: 'torn', reason: 'truncated frame header' };
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  await file.read(header, 0, FRAME_HEADER, position);
  const length = header.readUInt32LE(0);
  // No frame is empty: a zero length is a zero-filled tail (the file grew, its blocks never came).
  if (length === 0) return { kind: 'torn', reason: 'empty frame (zero-filled tail)' };
  if (length > maxLength || position + FRAME_HEADER + length > size) return { kind: 'torn', reason: 'frame runs past the end of the file' };
  const payload = Buffer.allocUnsafe(length);
  await file.read(payload, 0, length, position + FRAME_HEADER);
  if (crc32(payload) !== header.readUInt32LE(4)) return { kind: 'torn', reason: 'checksum mismatch' };
  return { kind: 'frame', payload, next: position + FRAME_HEADER + length };
}

/** fsyncs a directory, so that a file just created or renamed in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
