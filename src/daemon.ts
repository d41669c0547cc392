import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { InventorySource } from './ansible/inventory-source.ts';
import { AnsibleBackupAgent } from './ansible/ansible-backup-agent.ts';
import { adminToken } from './admin-token.ts';
import { createApi } from './api/app.ts';
import { answerClientErrors, httpServerOptions } from './api/http-edge.ts';
import { resumeDeletes } from './core/backup/backup-catalog.ts';
import { sha256Hex } from './api/auth.ts';
import type { Config } from './config.ts';
import type { CoreContext } from './core/context.ts';
import { LiveRuns } from './core/runs/live-runs.ts';
import { closeDeadRuns, recoverDeadRuns } from './core/runs/run-recovery.ts';
import { checkStorage } from './core/backup/storage-check.ts';
import { RunJournal } from './core/runs/run-journal.ts';
import { openDatabase } from './db/client.ts';
import { takeInstanceLocks, type InstanceLock } from './db/instance-lock.ts';
import { ageCipher } from './encryption/age-cipher.ts';
import { sqliteRecords } from './db/records.ts';
import { writeDefaultInventory } from './default-inventory.ts';
import { createLogger, type Log } from './logger.ts';
import { nodeAccess } from './nodes/node-access.ts';
import { openStorage } from './storage/open-storage.ts';
import { installBootloaders } from './boot/bootloaders.ts';
import { FileBootStaging } from './boot/file-boot-staging.ts';
import { TftpBootServer } from './boot/tftp-boot-server.ts';
import { RestoreProgress } from './core/restore/restore-progress.ts';
import { ageDecipher } from './encryption/age-decipher.ts';
import { openPower } from './power/open-power.ts';

export interface Daemon {
  url: string;
  ctx: CoreContext;
  live: LiveRuns;
  progress: RestoreProgress;
  log: Log;
  /** Where the TFTP boot server listens. */
  tftp: { host: string; port: number };
  /** Stops accepting requests, stops live runs at a safe point (services restarted), closes the database. */
  stop(): Promise<void>;
}

/**
 * Takes the data dir and the database for this process alone (a second daemon on them stops here,
 * having changed nothing), wires config -> db -> core -> http, recovers what a previous daemon
 * left, then listens.
 */
export async function startDaemon(config: Config, log: Log = createLogger(config.log.level)): Promise<Daemon> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const lock = takeInstanceLocks([join(config.dataDir, 'rearguardd.lock'), `${config.database}.lock`]);
  try {
    return await startOwned(config, log, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startOwned(config: Config, log: Log, lock: InstanceLock): Promise<Daemon> {
  const db = openDatabase(config.database);
  const records = sqliteRecords(db);

  const tokens = config.auth.tokens.map((t) => ({ name: t.name, role: t.role, sha256: t.sha256 ?? sha256Hex(t.token!) }));
  const generated = adminToken(config.auth.adminTokenFile, tokens.length === 0 && !config.auth.anonymousRole);
  if (generated) {
    tokens.push({ name: 'admin', role: 'admin', sha256: sha256Hex(generated.token) });
    if (generated.created)
      log.info({ file: resolve(config.auth.adminTokenFile) }, 'generated the admin API token (readable by root only)');
  }

  const inventoryFile = config.inventory
    ? resolve(config.inventory)
    : writeDefaultInventory(config.dataDir, {
        undercloud: config.targets.undercloud.group,
        overcloud: config.targets.overcloud.group,
      });
  const inventory = new InventorySource(inventoryFile);
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
      },
    },
  };
  const live = new LiveRuns(ctx);
  const progress = new RestoreProgress(ctx);

  // Records first: what a dead daemon left live ends interrupted before anything is served.
  const partial = closeDeadRuns(ctx);
  // The boot root holds bootloaders and what live restores stage; nothing a dead daemon's restores staged is served.
  mkdirSync(config.boot.root, { recursive: true, mode: 0o755 });
  await ctx.boot.sweep();
  await installBootloaders(config.boot.root);
  const [tftpHost, tftpPort] = splitHostPort(config.boot.tftpListen);
  const tftpServer = new TftpBootServer({
    host: tftpHost,
    port: tftpPort,
    root: config.boot.root,
    log,
    onFetch: (f) => progress.observe(f),
  });
  const tftp = await tftpServer.start();

  let ready = false;
  const api = createApi(
    { ctx, live, progress, isReady: () => ready },
    { tokens, anonymousRole: config.auth.anonymousRole },
    config.boot.root,
    config.http,
  );
  const [host, port] = splitHostPort(config.listen);
  const server = await new Promise<ServerType>((resolveServer, reject) => {
    const s = serve({ fetch: api.fetch, hostname: host, port, serverOptions: httpServerOptions(config.http) }, () =>
      resolveServer(s),
    );
    answerClientErrors(s as Server, config.http, log);
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  ctx.restore.httpUrl ||= url;
  log.info(
    {
      url,
      database: resolve(config.database),
      storage: config.storage.url,
      inventory: inventoryFile,
      tftp: `${tftp.host}:${tftp.port}`,
      bootRoot: resolve(config.boot.root),
      power: ctx.power.name,
    },
    'rearguard listening',
  );

  // Before any new run: remove dead runs' partial objects and restart services they left stopped.
  await recoverDeadRuns(ctx, partial);
  await resumeDeletes(ctx);
  // Storage may be away at start-up (backups then fail at preflight), but the operator hears of it now.
  const storage = await checkStorage(ctx);
  if (!storage.writable) log.warn({ storage: storage.location, error: storage.error }, 'storage is not writable');
  ready = true;

  let stopping: Promise<void> | undefined;
  return {
    url,
    ctx,
    live,
    progress,
    log,
    tftp,
    stop: () =>
      (stopping ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        await live.shutdown();
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        await closed;
        await tftpServer.stop();
        ctx.storage.close?.();
        db.$client.close();
        lock.release();
        log.info({}, 'rearguard stopped');
      })()),
  };
}

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
