import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');

export interface DaemonProcess {
  child: ChildProcess;
  url: Promise<string>;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

/**
 * The daemon as operators run it (`bin/rearguardd.js`), in its own process group so a
 * test can kill the whole group the way systemd kills a service's cgroup.
 */
export function spawnDaemon(opts: { cwd?: string; env?: Record<string, string>; args?: string[] } = {}): DaemonProcess {
  const child = spawn(process.execPath, [resolve(repo, 'bin/rearguardd.js'), ...(opts.args ?? [])], {
    cwd: opts.cwd ?? repo,
    env: { ...process.env, REARGUARD_LISTEN: '127.0.0.1:0', REARGUARD_TFTP_LISTEN: '127.0.0.1:0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const url = new Promise<string>((resolveUrl, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      if (line.includes('rearguard listening')) resolveUrl(JSON.parse(line).url);
    });
    child.once('exit', (code) => reject(new Error(`daemon exited (${code}) before listening: ${stderr.join('\n')}`)));
  });
  url.catch(() => undefined);
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, url, stdout, stderr, exited };
}

export function killGroup(p: DaemonProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-p.child.pid!, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => null);
    if (res?.status === 200) return;
    if (Date.now() > until) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
