/**
 * Preloaded (`--import`) into every process the bench starts, so none can outlive it: the child exits
 * when the bench's IPC channel closes (the bench ended or was killed, even by SIGKILL) and, whatever
 * happens, after BENCH_CHILD_MAX_MS. Nothing here touches the request path.
 */
const EXIT_ORPHANED = 70;
const EXIT_OVERTIME = 71;

if (process.channel) {
  process.channel.unref();
  process.on('disconnect', () => process.exit(EXIT_ORPHANED));
}

const maxMs = Number(process.env.BENCH_CHILD_MAX_MS);
if (Number.isFinite(maxMs) && maxMs > 0) {
  setTimeout(() => {
    process.stderr.write(`bench child ${process.pid} ran longer than ${maxMs} ms; exiting\n`);
    process.exit(EXIT_OVERTIME);
  }, maxMs).unref();
}
