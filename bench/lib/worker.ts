import { Child } from './children.js';

/**
 * In-process scenarios run in their own node process (a clean heap, `--expose-gc` where needed): the
 * bench passes parameters in BENCH_PARAMS and the worker answers with one IPC message.
 */
type WorkerMessage<R> = { type: 'result'; value: R } | { type: 'error'; message: string };

export interface WorkerOptions {
  readonly name: string;
  readonly script: string;
  readonly params: unknown;
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs: number;
}

/** Runs a worker script to completion and returns what it reported. */
export async function runWorker<R>(options: WorkerOptions): Promise<R> {
  const child = new Child({
    name: options.name,
    script: options.script,
    nodeArgs: options.nodeArgs,
    maxLifetimeMs: options.timeoutMs,
    env: { BENCH_PARAMS: JSON.stringify(options.params) },
  });
  let message: WorkerMessage<R> | undefined;
  child.proc.on('message', (m) => {
    message ??= m as WorkerMessage<R>;
  });
  await child.exited;
  if (message?.type === 'result') return message.value;
  if (message?.type === 'error') throw new Error(`${options.name} failed: ${message.message}`);
  throw new Error(child.describeExit());
}

/** The body of a worker script: reads its parameters, runs, reports, exits. */
export function workerMain<P, R>(body: (params: P) => Promise<R>): void {
  const params = JSON.parse(process.env.BENCH_PARAMS ?? '{}') as P;
  const send = (message: WorkerMessage<R>, code: number): void => {
    if (process.send === undefined) {
      process.stdout.write(`${JSON.stringify(message, null, 2)}\n`);
      process.exit(code);
    }
    process.send(message, () => process.exit(code));
  };
  body(params).then(
    (value) => send({ type: 'result', value }, 0),
    (err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 1),
  );
}

/** Collects garbage thoroughly (needs `--expose-gc`). */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) gc();
}
