import type { Config } from '../config.ts';
import type { Backup, Phase, Run } from '../core/model.ts';

/** How the playbooks quiesce and image nodes: the `backup` section of the config. */
export type BackupSettings = Config['backup'];

/**
 * The extra vars every run playbook gets: which hosts, which backup ids, how to quiesce and image.
 * `discard`: ids of backups that will not be transferred, whose staging dirs unquiesce.yml removes
 * even though they hold a manifest (those without one it removes anyway).
 */
export function backupVars(
  settings: BackupSettings,
  run: Run,
  backups: Backup[],
  stopAll: boolean,
  discard: readonly string[] = [],
): Record<string, unknown> {
  return {
    rearguard_hosts: backups.map((x) => x.node).join(':'),
    rearguard_run_id: run.id,
    rearguard_stopall: stopAll,
    // Every node at once (one consistent point), or one node at a time.
    rearguard_serial: stopAll ? 0 : 1,
    rearguard_staging_dir: settings.stagingDir,
    rearguard_backups: Object.fromEntries(backups.map((x) => [x.node, x.id])),
    rearguard_services: settings.services,
    rearguard_service_manager: settings.serviceManager,
    rearguard_mysqldump: settings.mysqldump,
    rearguard_rear_settings: settings.rear,
    rearguard_rear_command: settings.rearCommand,
    rearguard_min_free_mb: settings.minFreeMB,
    rearguard_discard_backups: [...discard],
  };
}

const phases = ['preflight', 'quiesce', 'image', 'unquiesce', 'verify', 'cleanup'] as const;

/** Playbook tasks are named `<phase>: <what>`; the prefix is how a task's events get their phase. */
export function phaseOfTask(task: string): Phase {
  const prefix = task.split(':', 1)[0]!.trim();
  return (phases as readonly string[]).includes(prefix) ? (prefix as Phase) : 'run';
}
