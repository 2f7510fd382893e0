/**
 * Whether a process with this pid exists on this machine (signal 0 probes without signalling).
 * Lock files use it to tell a live owner from one that died without cleaning up.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
