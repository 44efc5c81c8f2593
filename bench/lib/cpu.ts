import { readFileSync } from 'node:fs';

/**
 * CPU accounting for a shared machine: how much CPU the whole machine was busy, so that a run can say
 * how much went to processes other than the server and the bench itself. Linux only (/proc/stat).
 */
/** USER_HZ: 100 on every Linux the bench is meant for (`getconf CLK_TCK`). */
export const CLOCK_TICKS = 100;

/** CPU-seconds every core has spent busy (not idle, not waiting for I/O) since boot. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  void idle;
  void iowait;
  return (user + nice + system + irq + softirq + (steal || 0)) / CLOCK_TICKS;
}

/** CPU-seconds this process has used. */
export function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * CPU-seconds used by this process and every child it has reaped (utime, stime, cutime, cstime of
 * /proc/self/stat): the whole bench, servers and workers included, once they have exited.
 */
export function benchTreeCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}
