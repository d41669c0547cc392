import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileBootStaging } from '../../src/boot/file-boot-staging.ts';
import type { CoreContext } from '../../src/core/context.ts';
import { LiveRuns } from '../../src/core/runs/live-runs.ts';
import type { TargetHost } from '../../src/core/ports.ts';
import { manualPower } from '../../src/power/manual-power.ts';
import { FileStorage } from '../../src/storage/file-storage.ts';
import { memoryLifecycle, quiet } from './memory-records.ts';
import { MemoryNodes, ScriptedAgent } from './scripted-agent.ts';

const host = (name: string): TargetHost => ({ name, address: '192.0.2.1', port: 22, user: 'root', connection: 'ssh' });

/**
 * The core wired to in-memory records, in-memory nodes and a scripted agent, with storage and
 * the boot root in a temp dir: a use case runs in milliseconds, with no process started.
 */
export function memoryCore(hosts: { undercloud?: string[]; overcloud?: string[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'rg-core-'));
  const base = memoryLifecycle();
  const nodes = new MemoryNodes();
  const agent = new ScriptedAgent(nodes);
  const groups: Record<string, string[]> = {
    Undercloud: hosts.undercloud ?? ['undercloud'],
    Controller: hosts.overcloud ?? ['ctl0', 'ctl1', 'ctl2'],
  };
  const ctx: CoreContext = {
    ...base,
    log: quiet,
    storage: new FileStorage(pathToFileURL(join(dir, 'storage')).href),
    inventory: { hostsOf: async (group) => (groups[group] ?? []).map(host) },
    nodes,
    agent,
    targets: { undercloud: { group: 'Undercloud' }, overcloud: { group: 'Controller' } },
    transfer: { concurrentNodes: 2 },
    boot: new FileBootStaging(join(dir, 'boot')),
    power: manualPower,
    restore: { httpUrl: 'http://127.0.0.1:1', kernelArgs: '', timeoutsMs: { boot: 1000, rescue: 1000, recover: 1000, diskBoot: 1000 }, diskBootPollMs: 50 },
  };
  const live = new LiveRuns(ctx);
  return {
    ctx,
    live,
    nodes,
    agent,
    tick: base.tick,
    dispose: async () => {
      await live.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
