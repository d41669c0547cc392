import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { createApi } from './api/app.ts';
import { answerClientErrors, httpServerOptions } from './api/http-edge.ts';
import { resumeDeletes } from './core/backup/backup-catalog.ts';
import type { Config } from './config.ts';
import type { CoreContext } from './core/context.ts';
import { LiveRuns } from './core/runs/live-runs.ts';
import { closeDeadRuns, recoverDeadRuns } from './core/runs/run-recovery.ts';
import { checkStorage } from './core/backup/storage-check.ts';
import { openDatabase } from './db/client.ts';
import { takeInstanceLocks, type InstanceLock } from './db/instance-lock.ts';
import { sqliteRecords } from './db/records.ts';
import { apiTokens } from './api-tokens.ts';
import { coreContext } from './core-context.ts';
import { createLogger, type Log } from './logger.ts';
import { installBootloaders } from './boot/bootloaders.ts';
import { TftpBootServer } from './boot/tftp-boot-server.ts';
import { RestoreProgress } from './core/restore/restore-progress.ts';

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

  const tokens = apiTokens(config, log);
  const { ctx, inventoryFile } = coreContext(config, log, records);
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
