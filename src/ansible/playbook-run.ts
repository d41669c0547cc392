import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { parseEventLine, type HostStats, type PlaybookEvent } from './events.ts';
import { writeExtraVarsFile } from './extra-vars.ts';

export type { HostStats, PlaybookEvent } from './events.ts';

export interface PlaybookFailure {
  host: string;
  task: string;
  message: string;
}

export interface PlaybookResult {
  /** ansible-playbook's exit code (2 = a host failed, 4 = a host unreachable, 99 = interrupted). */
  exitCode: number;
  cancelled: boolean;
  stats: Record<string, HostStats>;
  /** The last failed task of each host that ended failed or unreachable. */
  failures: PlaybookFailure[];
  /** Last lines ansible wrote outside the event stream: explains a run that failed before any task. */
  stderrTail: string;
}

export interface RunPlaybookOptions {
  /** Absolute path; an `ansible.cfg` beside it is used as ANSIBLE_CONFIG. */
  playbook: string;
  inventory: string;
  /** Written to a 0600 file passed as `-e @file`, never on the command line, never logged. */
  extraVars: Record<string, unknown>;
  limit?: string;
  /** Where the extra-vars file is written (default: the temp dir); a daemon uses a private dir it can sweep after a crash. */
  varsDir?: string;
  /** Extra environment for ansible-playbook; wins over the defaults set here. */
  env?: Record<string, string>;
  /** Abort => SIGINT, then SIGTERM and SIGKILL if ansible does not stop within the grace. */
  signal?: AbortSignal;
  /** Called for each event as its line arrives. */
  onEvent: (e: PlaybookEvent) => void;
  /** stderr lines and stdout lines that are not events. */
  onLog?: (line: string) => void;
}

/** Time ansible gets after SIGINT (to stop its workers) before SIGTERM, and again before SIGKILL. */
const CANCEL_GRACE_MS = 10_000;
const STDERR_TAIL_LINES = 20;
/**
 * No ControlPersist: its master process daemonises and outlives ansible-playbook, so it could be
 * neither cancelled nor reaped. Keepalives let a long `rear mkbackup` hold its session.
 */
const SSH_ARGS = '-o ControlMaster=no -o ServerAliveInterval=15 -o ServerAliveCountMax=8 -o BatchMode=yes';

export async function runPlaybook(opts: RunPlaybookOptions): Promise<PlaybookResult> {
  const vars = await writeExtraVarsFile(opts.extraVars, opts.varsDir);
  try {
    return await run(opts, vars.path);
  } finally {
    await vars.remove();
  }
}

async function run(opts: RunPlaybookOptions, varsFile: string): Promise<PlaybookResult> {
  const args = ['-i', opts.inventory, '-e', `@${varsFile}`];
  if (opts.limit) args.push('--limit', opts.limit);
  args.push(opts.playbook);

  const cfg = join(dirname(opts.playbook), 'ansible.cfg');
  const child = execa('ansible-playbook', args, {
    env: {
      ...(existsSync(cfg) ? { ANSIBLE_CONFIG: cfg } : {}),
      // The event parser depends on this callback; the rest keeps the stream machine-readable.
      ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.jsonl',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: '0',
      PYTHONUNBUFFERED: '1',
      ANSIBLE_SSH_ARGS: SSH_ARGS,
      ...opts.env,
    },
    stdin: 'ignore',
    buffer: false,
    reject: false,
    forceKillAfterDelay: false,
    // Own process group, so a cancel reaches ansible's workers and their ssh clients at once,
    // as Ctrl-C would: each parent then reaps its children and nothing is orphaned.
    detached: true,
  });
  // A detached child is not killed with us: do it ourselves if the daemon exits mid-run.
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);
  const watchdog = child.pid === undefined ? undefined : groupWatchdog(child.pid);

  const stats: Record<string, HostStats> = {};
  const lastFailure = new Map<string, PlaybookFailure>();
  const stderrTail: string[] = [];
  const state = { play: '' };

  const onStdout = (line: string) => {
    const events = parseEventLine(line, state);
    if (events === null) {
      if (line.trim()) opts.onLog?.(line);
      return;
    }
    for (const e of events) {
      if (e.type === 'stats') Object.assign(stats, e.stats);
      else if (e.type === 'host_failed' || e.type === 'host_unreachable') {
        lastFailure.set(e.host, { host: e.host, task: e.task, message: e.message ?? '' });
      }
      opts.onEvent(e);
    }
  };
  const onStderr = (line: string) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    opts.onLog?.(line);
  };
  const streams = [lines(child.stdout, onStdout), lines(child.stderr, onStderr)];

  let cancelled = false;
  const timers: NodeJS.Timeout[] = [];
  const cancel = () => {
    cancelled = true;
    killGroup('SIGINT');
    timers.push(setTimeout(() => killGroup('SIGTERM'), CANCEL_GRACE_MS).unref());
    timers.push(setTimeout(() => killGroup('SIGKILL'), 2 * CANCEL_GRACE_MS).unref());
  };
  if (opts.signal?.aborted) cancel();
  else opts.signal?.addEventListener('abort', cancel, { once: true });

  try {
    const result = await child;
    await Promise.all(streams);
    // Neither an exit code nor a signal: ansible-playbook never ran (not installed, bad cwd).
    if (result.exitCode === undefined && result.signal === undefined) throw new Error(result.shortMessage);
    const exitCode = result.exitCode ?? 128 + (constants.signals[result.signal!] ?? 0);
    // A failure that was rescued or ignored does not fail the host: keep only hosts the recap
    // counts as failed (all of them when the run died before the recap).
    const haveStats = Object.keys(stats).length > 0;
    const failures = [...lastFailure.values()].filter(
      (f) => !haveStats || (stats[f.host]?.failures ?? 0) + (stats[f.host]?.unreachable ?? 0) > 0,
    );
    return { exitCode, cancelled, stats, failures, stderrTail: stderrTail.join('\n') };
  } finally {
    for (const t of timers) clearTimeout(t);
    opts.signal?.removeEventListener('abort', cancel);
    process.removeListener('exit', onExit);
    // Before its stdin closes, or it would kill the group (already gone, its id free for reuse).
    watchdog?.kill('SIGKILL');
  }
}

/**
 * Kills the playbook's process group (ansible, its workers, their ssh clients) if the daemon
 * dies, however it dies (SIGKILL, OOM, a crash skip the 'exit' handler): the watchdog blocks
 * reading a pipe from the daemon, and the kernel closes that pipe at the daemon's death. It is a
 * lone sh (`read` is a builtin, no child to orphan) in a process group of its own, so that a kill
 * of the daemon's group does not take it along; the run's end kills it first.
 */
function groupWatchdog(pgid: number) {
  return execa('/bin/sh', ['-c', 'while read -r _; do :; done; kill -9 -"$1"', 'rearguard-watchdog', String(pgid)], {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'ignore',
    detached: true,
    cleanup: false,
    reject: false,
  });
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', onLine);
  return new Promise((resolve) => rl.once('close', resolve));
}
