import { basename } from 'node:path';
import { fsError, nodeFs, type DiskFile, type DiskFs } from '../../src/storage/fs.js';
import type { Gate } from './storage.js';

/** The file-system calls a fault can target. */
export type FsOp = 'open' | 'writev' | 'read' | 'datasync' | 'truncate' | 'close' | 'rename' | 'rm' | 'copyFile' | 'syncDir';

export interface Fault {
  readonly op: FsOp;
  /** Only calls on files whose name matches (default: any). */
  readonly file?: RegExp;
  /** `open` only: only opens with these flags (e.g. `'w'`: creating a file). */
  readonly flags?: string;
  /** How many matching calls it hits (default: every one until removed). */
  times?: number;
  /** Fail with this error code (`ENOSPC`, `EIO`, …). */
  readonly error?: string;
  /** `writev` only: write just this many bytes and report it, as a nearly full disk does. */
  readonly short?: number;
  /** Park the call until the gate opens (a stalled disk), then go on (or fail, with `error`). */
  readonly stall?: Gate;
}

/**
 * The real file system with faults injected on cue: short writes, errors, stalls. Faults are matched
 * in the order they were injected; each call is also recorded, so a spec can see what was tried.
 */
export class FaultyFs implements DiskFs {
  private faults: Fault[] = [];
  readonly calls: { op: FsOp; file: string }[] = [];

  constructor(private readonly real: DiskFs = nodeFs) {}

  inject(fault: Fault): Fault {
    this.faults.push(fault);
    return fault;
  }

  /** Removes every fault: the disk works again. */
  heal(): void {
    this.faults = [];
  }

  /** Applies the first fault matching the call; returns it (for `short`) after any stall or error. */
  private async hit(op: FsOp, path: string, flags?: string): Promise<Fault | undefined> {
    const file = basename(path);
    this.calls.push({ op, file });
    const fault = this.faults.find(
      (f) => f.op === op && (f.file === undefined || f.file.test(file)) && (f.flags === undefined || f.flags === flags) && (f.times === undefined || f.times > 0),
    );
    if (fault === undefined) return undefined;
    if (fault.times !== undefined) fault.times--;
    if (fault.stall) await fault.stall.wait();
    if (fault.error) throw fsError(fault.error, `${op} ${file} (injected)`);
    return fault;
  }

  async open(path: string, flags: 'r' | 'w' | 'r+'): Promise<DiskFile> {
    await this.hit('open', path, flags);
    const file = await this.real.open(path, flags);
    const hit = (op: FsOp) => this.hit(op, path);
    return {
      async writev(buffers, position) {
        const fault = await hit('writev');
        if (fault?.short !== undefined) {
          const bytes = Buffer.concat(buffers).subarray(0, fault.short);
          return file.writev([bytes], position);
        }
        return file.writev(buffers, position);
      },
      async read(buffer, offset, length, position) {
        await hit('read');
        return file.read(buffer, offset, length, position);
      },
      async datasync() {
        await hit('datasync');
        return file.datasync();
      },
      async truncate(length) {
        await hit('truncate');
        return file.truncate(length);
      },
      size: () => file.size(),
      async close() {
        try {
          await hit('close');
        } finally {
          await file.close();
        }
      },
    };
  }

  readdir(dir: string): Promise<string[]> {
    return this.real.readdir(dir);
  }
  mkdir(dir: string): Promise<void> {
    return this.real.mkdir(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.hit('rename', from);
    return this.real.rename(from, to);
  }
  async rm(path: string): Promise<void> {
    await this.hit('rm', path);
    return this.real.rm(path);
  }
  async copyFile(from: string, to: string): Promise<void> {
    await this.hit('copyFile', from);
    return this.real.copyFile(from, to);
  }
  async syncDir(dir: string): Promise<void> {
    await this.hit('syncDir', dir);
    return this.real.syncDir(dir);
  }
}

/**
 * Waits until `condition` holds, polling once per turn of the event loop (so it works while
 * `setTimeout` is faked); fails after `timeoutMs` of real time.
 */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
