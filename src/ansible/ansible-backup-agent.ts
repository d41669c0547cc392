import { resolve } from 'node:path';
import type { Run } from '../core/model.ts';
import type { BackupAgent, ImageRequest, ImagingOutcome, Logger, UnquiesceRequest } from '../core/ports.ts';
import { agentEvents } from './agent-events.ts';
import { backupVars, type BackupSettings } from './backup-vars.ts';
import { ImagingRecord, playbookEnd } from './imaging-outcome.ts';
import { runPlaybook, type PlaybookResult } from './playbook-run.ts';
import type { PlaybookEvent } from './events.ts';

export interface AnsibleAgentOptions {
  playbookDir: string;
  inventory: string;
  /** Extra environment for ansible-playbook. */
  env: Record<string, string>;
  /** A private dir for extra-vars files, swept at start-up. */
  varsDir: string;
  settings: BackupSettings;
  log: Logger;
}

/** The backup agent as Ansible playbooks (backup.yml, unquiesce.yml) run over ssh. */
export class AnsibleBackupAgent implements BackupAgent {
  constructor(private readonly opts: AnsibleAgentOptions) {}

  imageDir(backupId: string): string {
    return `${this.opts.settings.stagingDir}/${backupId}`;
  }

  async image(req: ImageRequest): Promise<ImagingOutcome> {
    const record = new ImagingRecord();
    const emit = agentEvents(req.onEvent);
    const vars = backupVars(this.opts.settings, req.run, req.backups, req.stopAll);
    const result = await this.play('backup.yml', req.run, vars, req.signal, (e) => {
      record.observe(e);
      emit(e);
    });
    return record.outcome(
      req.backups.map((b) => b.node),
      result,
    );
  }

  async unquiesce(req: UnquiesceRequest): Promise<{ ok: boolean; failure: string | null }> {
    // The vars name the run's hosts and quiesce record; how it imaged does not matter here.
    const vars = backupVars(this.opts.settings, req.run, req.backups, false, req.discard);
    const result = await this.play('unquiesce.yml', req.run, vars, undefined, agentEvents(req.onEvent, 'unquiesce'));
    if (result.exitCode === 0 && !result.cancelled) return { ok: true, failure: null };
    const why = result.failures.map((f) => `${f.host}: ${f.message}`).join('; ');
    return { ok: false, failure: why || playbookEnd(result) };
  }

  private play(
    playbook: string,
    run: Run,
    extraVars: Record<string, unknown>,
    signal: AbortSignal | undefined,
    onEvent: (e: PlaybookEvent) => void,
  ): Promise<PlaybookResult> {
    return runPlaybook({
      playbook: resolve(this.opts.playbookDir, playbook),
      inventory: this.opts.inventory,
      extraVars,
      env: this.opts.env,
      varsDir: this.opts.varsDir,
      signal,
      onEvent,
      onLog: (line) => this.opts.log.debug({ run: run.id }, line),
    });
  }
}
