/** Turns lines of the `ansible.posix.jsonl` stdout callback into typed events. */

/** A host's line of the play recap. */
export interface HostStats {
  ok: number;
  changed: number;
  failures: number;
  unreachable: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

export type PlaybookEvent =
  | { type: 'task_start'; at: string; play: string; task: string; taskId: string }
  | {
      type: 'host_ok' | 'host_failed' | 'host_unreachable' | 'host_skipped';
      at: string;
      host: string;
      task: string;
      taskId: string;
      message?: string;
      changed?: boolean;
    }
  | { type: 'stats'; at: string; stats: Record<string, HostStats> };

type HostEventType = Extract<PlaybookEvent, { host: string }>['type'];

const HOST_EVENTS: Record<string, HostEventType> = {
  v2_runner_on_ok: 'host_ok',
  v2_runner_on_failed: 'host_failed',
  v2_runner_on_unreachable: 'host_unreachable',
  v2_runner_on_skipped: 'host_skipped',
};

// linear/debug strategies announce a task once; free/host_pinned announce it per host.
const TASK_START_EVENTS = new Set(['v2_playbook_on_task_start', 'v2_playbook_on_handler_task_start', 'v2_runner_on_start']);

/**
 * Ansible names a role's tasks `<role> : <task>`; the playbooks' own names start with their
 * phase (`image: rear mkbackup`), which is what the daemon maps, so the role prefix goes.
 */
const ROLE_PREFIX = /^[\w.-]+ : /;

/** How many trailing lines of a command's stderr/stdout go into a failure message. */
const TAIL_LINES = 15;

type Json = Record<string, unknown>;

/**
 * Parses one stdout line. Returns null for anything that is not a jsonl callback event (the
 * caller logs it); a play start updates `state.play` and yields no event.
 */
export function parseEventLine(line: string, state: { play: string }): PlaybookEvent[] | null {
  if (!line.startsWith('{')) return null;
  let raw: Json;
  try {
    raw = JSON.parse(line) as Json;
  } catch {
    return null;
  }
  const name = raw._event;
  if (typeof name !== 'string') return null;
  const at = typeof raw._timestamp === 'string' ? raw._timestamp : new Date().toISOString();

  if (name === 'v2_playbook_on_play_start') {
    state.play = str(obj(raw.play).name);
    return [];
  }
  if (name === 'v2_playbook_on_stats') {
    return [{ type: 'stats', at, stats: parseStats(obj(raw.stats)) }];
  }
  const task = obj(raw.task);
  const taskName = str(task.name).replace(ROLE_PREFIX, '');
  const taskId = str(task.id);
  if (TASK_START_EVENTS.has(name)) {
    return [{ type: 'task_start', at, play: state.play, task: taskName, taskId }];
  }
  const type = HOST_EVENTS[name];
  if (!type) return [];
  return Object.entries(obj(raw.hosts)).map(([host, value]) => {
    const result = obj(value);
    const event: PlaybookEvent = { type, at, host, task: taskName, taskId };
    if (typeof result.changed === 'boolean') event.changed = result.changed;
    if (type === 'host_failed' || type === 'host_unreachable') event.message = failureMessage(result);
    else if (type === 'host_skipped' && typeof result.skip_reason === 'string') {
      event.message = result.skip_reason;
    }
    return event;
  });
}

/**
 * The useful part of a failed result: the module's `msg`, then the tail of the command's
 * stderr (or stdout when stderr is empty). For a loop, the first failed item's message.
 */
export function failureMessage(result: Json): string {
  const items = Array.isArray(result.results) ? (result.results as unknown[]).map(obj) : [];
  const failedItem = items.find((i) => i.failed === true || i.unreachable === true);
  if (failedItem) return failureMessage(failedItem);

  const parts: string[] = [];
  const msg = str(result.msg).trim();
  if (msg && !(msg === 'non-zero return code' && typeof result.rc === 'number')) parts.push(msg);
  if (typeof result.rc === 'number' && result.rc !== 0) parts.push(`rc=${result.rc}`);
  const output = tail(str(result.stderr)) || tail(str(result.stdout));
  if (output && !msg.includes(output)) parts.push(output);
  if (parts.length === 0 && typeof result.exception === 'string') parts.push(tail(result.exception));
  return parts.join(': ') || 'failed without a message';
}

function parseStats(raw: Json): Record<string, HostStats> {
  const stats: Record<string, HostStats> = {};
  for (const [host, value] of Object.entries(raw)) {
    const s = obj(value);
    stats[host] = {
      ok: num(s.ok),
      changed: num(s.changed),
      failures: num(s.failures),
      unreachable: num(s.unreachable),
      skipped: num(s.skipped),
      rescued: num(s.rescued),
      ignored: num(s.ignored),
    };
  }
  return stats;
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n').trim();
}

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
