import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Backup, Run } from '../../src/core/model.ts';
import type {
  BackupAgent,
  ImageRequest,
  ImagingOutcome,
  NodeAccess,
  NodeSession,
  TargetHost,
  UnquiesceRequest,
} from '../../src/core/ports.ts';

/** What the scripted agent does to one host: image it (the default), or fail it with a reason. */
export type HostScript = { image: true } | { fail: string };

/**
 * The nodes as files in memory: what an agent staged on a host, as the core reads it back over
 * its node sessions (`cat` of the manifest, a stream of each artefact, `rm -rf` of the staging dir).
 */
export class MemoryNodes implements NodeAccess {
  readonly files = new Map<string, Map<string, Buffer>>();
  opened = 0;

  /** Everything under a directory of a host, as `rm -rf` would. */
  remove(host: string, dir: string): void {
    const files = this.files.get(host);
    for (const path of [...(files?.keys() ?? [])]) if (path.startsWith(`${dir}/`)) files!.delete(path);
  }

  stage(host: string, path: string, data: Buffer): void {
    if (!this.files.has(host)) this.files.set(host, new Map());
    this.files.get(host)!.set(path, data);
  }

  async open(host: TargetHost): Promise<NodeSession> {
    this.opened++;
    const files = this.files.get(host.name) ?? new Map<string, Buffer>();
    const unquote = (s: string) => s.replace(/^'|'$/g, '');
    return {
      readFile: async (path) => {
        const data = files.get(path);
        if (!data) throw new Error(`${host.name}: ${path}: no such file`);
        return Readable.from([data]);
      },
      exec: async (command) => {
        const cat = /^cat (.+)$/.exec(command);
        if (cat) {
          const data = files.get(unquote(cat[1]!));
          return data ? { stdout: data.toString(), stderr: '', code: 0 } : { stdout: '', stderr: 'No such file', code: 1 };
        }
        const rm = /^rm -rf -- (.+)$/.exec(command);
        if (rm) {
          this.remove(host.name, unquote(rm[1]!));
          return { stdout: '', stderr: '', code: 0 };
        }
        return { stdout: '', stderr: `not scripted: ${command}`, code: 127 };
      },
      close: () => {},
    };
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A backup agent that follows a script instead of running playbooks: it stages a small image
 * (an archive and the node's manifest) for each host it images, emits the steps a real agent
 * would, and can be held mid-image so a test can cancel or stop the daemon there.
 */
export class ScriptedAgent implements BackupAgent {
  readonly script = new Map<string, HostScript>();
  preflightRefusal: string | null = null;
  unquiesceFails = false;
  throws: Error | null = null;
  /** While set, imaging waits for it (or for the signal). */
  hold: Promise<void> | null = null;
  readonly calls: Array<{ call: 'image' | 'unquiesce'; run: string; stopAll?: boolean; hosts: string[]; discard?: string[] }> =
    [];

  constructor(private readonly nodes: MemoryNodes) {}

  imageDir(backupId: string): string {
    return `/var/lib/rearguard/staging/${backupId}`;
  }

  async image(req: ImageRequest): Promise<ImagingOutcome> {
    this.calls.push({ call: 'image', run: req.run.id, stopAll: req.stopAll, hosts: req.backups.map((b) => b.node) });
    if (this.throws) throw this.throws;
    const failures: Record<string, string | null> = {};
    if (this.preflightRefusal) {
      for (const b of req.backups) failures[b.node] = `not started: ${this.preflightRefusal}`;
      return { clean: false, cancelled: false, quiesceStarted: false, failures, preflightFailure: this.preflightRefusal };
    }
    req.onEvent({ phase: 'quiesce', host: null, level: 'info', message: 'task started: quiesce: stop services' });
    if (this.hold && !req.signal.aborted) {
      await Promise.race([this.hold, new Promise((r) => req.signal.addEventListener('abort', r, { once: true }))]);
    }
    if (req.signal.aborted) {
      for (const b of req.backups) failures[b.node] = 'playbook cancelled';
      return { clean: false, cancelled: true, quiesceStarted: true, failures, preflightFailure: null };
    }
    for (const b of req.backups) {
      const script = this.script.get(b.node) ?? { image: true };
      if ('fail' in script) {
        failures[b.node] = script.fail;
        req.onEvent({ phase: 'image', host: b.node, level: 'error', message: `failed: ${script.fail}` });
        continue;
      }
      this.stageImage(b);
      failures[b.node] = null;
      req.onEvent({ phase: 'image', host: b.node, level: 'info', message: `image finished on ${b.node}` });
    }
    const clean = Object.values(failures).every((f) => f === null);
    return { clean, cancelled: false, quiesceStarted: true, failures, preflightFailure: null };
  }

  async unquiesce(req: UnquiesceRequest): Promise<{ ok: boolean; failure: string | null }> {
    this.calls.push({ call: 'unquiesce', run: req.run.id, hosts: req.backups.map((b) => b.node), discard: req.discard });
    // As the playbook's cleanup does: the images it is told nothing will transfer go.
    for (const b of req.backups) if (req.discard.includes(b.id)) this.nodes.remove(b.node, this.imageDir(b.id));
    return this.unquiesceFails
      ? { ok: false, failure: `${req.backups[0]!.node}: mariadb did not start` }
      : { ok: true, failure: null };
  }

  private stageImage(b: Backup): void {
    const dir = this.imageDir(b.id);
    const archive = Buffer.from(`archive of ${b.node} for ${b.id}\n`);
    const manifest = {
      host: b.node,
      backup_id: b.id,
      rear_version: 'Relax-and-Recover 2.7',
      created: '2026-12-02T00:00:00Z',
      node: { macs: ['52:54:00:00:00:01'], ironic_uuid: '' },
      artefacts: [{ name: 'backup.tar.gz', path: `${dir}/backup.tar.gz`, size: archive.length, sha256: sha256(archive) }],
    };
    this.nodes.stage(b.node, `${dir}/backup.tar.gz`, archive);
    this.nodes.stage(b.node, `${dir}/manifest.json`, Buffer.from(JSON.stringify(manifest)));
  }
}
