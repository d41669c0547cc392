import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeAccess, TargetHost } from '../ports.ts';

/**
 * Run on the restored node: fails inside ReaR's rescue system (which has its own sshd, and may
 * have the node's host keys), prints the device the running root came from otherwise.
 */
const ON_DISK_PROBE = 'test ! -e /etc/scripts/system-setup && { findmnt -n -o SOURCE / || echo unknown; }';

export interface NodeOnDisk {
  /** The running root's device as the node reports it (e.g. /dev/vda1). */
  root: string;
  attempts: number;
}

/**
 * Waits until the node answers over its session from its own disk: the ssh adapter accepts only the
 * host key pinned for `host.name`, so an answer proves the restored system is the backed-up one.
 * Refusals (not up yet, the rescue system, a different host key) are retried every `pollMs`; the
 * last one is the reason given when `timeoutMs` passes.
 */
export async function awaitNodeOnDisk(
  nodes: NodeAccess,
  host: TargetHost,
  opts: { timeoutMs: number; pollMs: number; now: () => number },
  signal: AbortSignal,
): Promise<NodeOnDisk> {
  const deadline = opts.now() + opts.timeoutMs;
  let last = 'no answer yet';
  for (let attempts = 1; ; attempts++) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
    try {
      const session = await nodes.open(host);
      try {
        const r = await session.exec(ON_DISK_PROBE);
        if (r.code === 0) return { root: r.stdout.trim() || 'unknown', attempts };
        last = 'it answers from the rescue system, not from its disk';
      } finally {
        session.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    const left = deadline - opts.now();
    if (left <= 0) {
      throw new Error(
        `${host.address} did not answer from its restored disk within ${Math.round(opts.timeoutMs / 1000)} s (last: ${last})`,
      );
    }
    // An abort ends the wait at once; the loop's first line then throws its reason.
    await sleep(Math.min(opts.pollMs, left), undefined, { signal }).catch(() => undefined);
  }
}
