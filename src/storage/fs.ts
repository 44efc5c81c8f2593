import * as fsp from 'node:fs/promises';

/**
 * The few file-system calls the durable store makes, behind one seam, so that specs can make any of
 * them fail, stall or write short on cue (a real disk cannot be told to fill up at byte 4,097).
 * Production uses `nodeFs`; nothing else in storage imports `node:fs`.
 */
export interface DiskFile {
  /** Writes at `position`; like the system call it may write fewer bytes than given. */
  writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface DiskFs {
  /** `flags` as for `fs.open`: `'r'`, `'w'` (create or empty), `'r+'`. */
  open(path: string, flags: 'r' | 'w' | 'r+'): Promise<DiskFile>;
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing one is not an error. */
  rm(path: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  /** fsyncs a directory, so that a file just created, renamed or removed in it survives a power cut. */
  syncDir(dir: string): Promise<void>;
}

class NodeFile implements DiskFile {
  constructor(private readonly handle: fsp.FileHandle) {}
  writev(buffers: readonly Buffer[], position: number) {
    return this.handle.writev(buffers as Buffer[], position);
  }
  read(buffer: Buffer, offset: number, length: number, position: number) {
    return this.handle.read(buffer, offset, length, position);
  }
  datasync() {
    return this.handle.datasync();
  }
  truncate(length: number) {
    return this.handle.truncate(length);
  }
  async size() {
    return (await this.handle.stat()).size;
  }
  close() {
    return this.handle.close();
  }
}

export const nodeFs: DiskFs = {
  async open(path, flags) {
    return new NodeFile(await fsp.open(path, flags));
  },
  readdir: (dir) => fsp.readdir(dir),
  mkdir: async (dir) => void (await fsp.mkdir(dir, { recursive: true })),
  rename: (from, to) => fsp.rename(from, to),
  rm: (path) => fsp.rm(path, { force: true }),
  copyFile: (from, to) => fsp.copyFile(from, to),
  async syncDir(dir) {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** An error with a Node-style `code` (`ENOSPC`, `EIO`, …). */
export function fsError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * Writes every byte of `buffers` at `position`, continuing after short writes: on a nearly full disk
 * `writev` writes part of the data and returns without an error, and only the next call fails with
 * ENOSPC. A call that writes nothing at all is turned into that ENOSPC rather than looping.
 */
export async function writeFully(file: DiskFile, buffers: readonly Buffer[], position: number): Promise<number> {
  let rest = buffers.filter((b) => b.length > 0);
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, at);
    if (bytesWritten <= 0) throw fsError('ENOSPC', `no space left on device, write made no progress at byte ${at}`);
    at += bytesWritten;
    rest = skipBytes(rest, bytesWritten);
  }
  return at - position;
}

function skipBytes(buffers: readonly Buffer[], n: number): Buffer[] {
  let i = 0;
  let left = n;
  while (i < buffers.length && left >= buffers[i].length) left -= buffers[i++].length;
  const out = buffers.slice(i);
  if (left > 0 && out.length > 0) out[0] = out[0].subarray(left);
  return out;
}

/** The `code` of a Node file-system error, or `'EUNKNOWN'`. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}
