import type { CoreContext } from './context.ts';
import type { Backup, Phase, Run } from './model.ts';

/** The extra vars every run playbook gets: which hosts, which backup ids, how to quiesce and image. */
export function playbookVars(ctx: CoreContext, run: Run, backups: Backup[]): Record<string, unknown> {
  const b = ctx.backup;
  return {
    rearguard_hosts: backups.map((x) => x.node).join(':'),
    rearguard_run_id: run.id,
    rearguard_stopall: run.params.stopall === 'yes',
    // stopall=yes: every node at once (one consistent point); no: one node at a time.
    rearguard_serial: run.params.stopall === 'yes' ? 0 : 1,
    rearguard_staging_dir: b.stagingDir,
    rearguard_backups: Object.fromEntries(backups.map((x) => [x.node, x.id])),
    rearguard_services: b.services,
    rearguard_service_manager: b.serviceManager,
    rearguard_mysqldump: b.mysqldump,
    rearguard_rear_settings: b.rear,
    rearguard_rear_command: b.rearCommand,
  };
}

const phases = ['preflight', 'quiesce', 'image', 'unquiesce', 'verify', 'cleanup'] as const;

/** Playbook tasks are named `<phase>: <what>`; the prefix is how a task's events get their phase. */
export function phaseOfTask(task: string): Phase {
  const prefix = task.split(':', 1)[0]!.trim();
  return (phases as readonly string[]).includes(prefix) ? (prefix as Phase) : 'run';
}
