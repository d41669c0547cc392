import type { Phase, RunEvent } from '../model.ts';
import type { Clock, Logger, Records } from '../ports.ts';

type Listener = (event: RunEvent) => void;

/** Appends run events to the records and tells live followers (the event stream) as they happen. */
export class RunJournal {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly records: Records,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  record(
    runId: string,
    phase: Phase,
    message: string,
    opts: { level?: RunEvent['level']; host?: string | null; data?: Record<string, unknown> } = {},
  ): RunEvent {
    const event = this.records.events.append({
      runId,
      at: this.clock.now(),
      level: opts.level ?? 'info',
      phase,
      host: opts.host ?? null,
      message,
      data: opts.data ?? null,
    });
    const line = { run: runId, phase, host: event.host ?? undefined };
    if (event.level === 'error') this.log.error(line, message);
    else if (event.level === 'warn') this.log.warn(line, message);
    else this.log.info(line, message);
    for (const listener of this.listeners.get(runId) ?? []) listener(event);
    return event;
  }

  follow(runId: string, listener: Listener): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }
}
