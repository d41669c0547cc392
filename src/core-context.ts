import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { AnsibleBackupAgent } from './ansible/ansible-backup-agent.ts';
import { InventorySource } from './ansible/inventory-source.ts';
import { FileBootStaging } from './boot/file-boot-staging.ts';
import type { Config } from './config.ts';
import type { CoreContext } from './core/context.ts';
import type { Records } from './core/ports.ts';
import { RunJournal } from './core/runs/run-journal.ts';
import { writeDefaultInventory } from './default-inventory.ts';
import { ageCipher } from './encryption/age-cipher.ts';
import { ageDecipher } from './encryption/age-decipher.ts';
import type { Log } from './logger.ts';
import { nodeAccess } from './nodes/node-access.ts';
import { openPower } from './power/open-power.ts';
import { openStorage } from './storage/open-storage.ts';

/** The core wired to its adapters as the config says: the inventory, the backup agent, storage, boot, power. */
export function coreContext(config: Config, log: Log, records: Records): { ctx: CoreContext; inventoryFile: string } {
  const inventoryFile = config.inventory
    ? resolve(config.inventory)
    : writeDefaultInventory(config.dataDir, {
        undercloud: config.targets.undercloud.group,
        overcloud: config.targets.overcloud.group,
      });
  const inventory = new InventorySource(inventoryFile, { cacheMs: config.ansible.inventoryCacheSeconds * 1000 });
  // Extra-vars files of runs a killed daemon left behind are swept here: no run is live yet.
  const varsDir = resolve(config.dataDir, 'run');
  rmSync(varsDir, { recursive: true, force: true });
  mkdirSync(varsDir, { mode: 0o700 });
  const clock = { now: () => Date.now() };
  const ctx: CoreContext = {
    records,
    journal: new RunJournal(records, clock, log),
    storage: openStorage(config.storage),
    cipher: config.encryption.recipients.length > 0 ? ageCipher(config.encryption.recipients) : undefined,
    inventory,
    nodes: nodeAccess({ get: (n) => records.nodes.hostKey(n), pin: (n, k) => records.nodes.pinHostKey(n, k) }),
    agent: new AnsibleBackupAgent({
      playbookDir: config.ansible.playbookDir,
      inventory: inventoryFile,
      env: config.ansible.env,
      varsDir,
      settings: config.backup,
      log,
    }),
    clock,
    log,
    instanceId: `${process.pid}-${randomBytes(4).toString('hex')}`,
    targets: config.targets,
    leaseMs: config.runs.leaseSeconds * 1000,
    transfer: config.transfer,
    decipher: config.encryption.identityFile ? ageDecipher(config.encryption.identityFile) : undefined,
    boot: new FileBootStaging(config.boot.root),
    power: openPower(config.power),
    restore: {
      // Known once the HTTP server listens, unless the config names it.
      httpUrl: config.boot.httpUrl ?? '',
      kernelArgs: config.boot.kernelArgs,
      timeoutsMs: {
        boot: config.restore.bootTimeoutSeconds * 1000,
        rescue: config.restore.rescueTimeoutSeconds * 1000,
        recover: config.restore.recoverTimeoutSeconds * 1000,
        diskBoot: config.restore.diskBootTimeoutSeconds * 1000,
      },
      diskBootPollMs: 5000,
    },
  };
  return { ctx, inventoryFile };
}
