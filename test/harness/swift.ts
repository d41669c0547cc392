import { S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A real OpenStack Swift all-in-one on loopback: account, container and object servers on one
 * device with rings of 1 replica, a proxy with tempauth and the s3api middleware, and memcached
 * for tempauth's tokens. Every process is a child of this one (pdeathsig: they die with it) and
 * runs single-process (`workers = 0`) so that killing it kills the whole server.
 */
export interface Swift {
  /** S3 (and Swift) endpoint of the proxy, e.g. http://127.0.0.1:PORT */
  endpoint: string;
  /** tempauth v1 URL for native Swift clients. */
  authUrl: string;
  /** A user with the admin role of account `test`. */
  swiftUser: string;
  swiftKey: string;
  /** s3api with tempauth: access key = `account:user`, secret = the user's key. */
  s3: { accessKeyId: string; secretAccessKey: string };
  /** A user of account `test` without any role: authenticates, but may not touch the containers. */
  noRole: { accessKeyId: string; secretAccessKey: string };
  /** A bucket (container) created for the tests. */
  bucketName: string;
  /** Native Swift API: GET/PUT/DELETE on `<storage URL>/<path>` as the admin user. */
  swiftRequest(method: string, path: string): Promise<Response>;
  /** Kills the proxy (SIGKILL: connections drop as in a crash); the other servers keep running. */
  stopProxy(): Promise<void>;
  startProxy(): Promise<void>;
  stop(): Promise<void>;
}

const PACKAGES_FILE = resolve(import.meta.dirname, '../../scripts/swift-packages.txt');
const APT_INSTALL = resolve(import.meta.dirname, '../../scripts/apt-install.sh');
// Swift's tools are Python scripts: run them with Debian's python, not a pyenv one earlier on PATH.
const PYTHON = '/usr/bin/python3';
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };
const SERVERS = ['account', 'container', 'object'] as const;
const READY_TIMEOUT_MS = 60_000;

/** An S3 client of the test user, for tests to look at what storage really holds. */
export function swiftS3Client(swift: Swift): S3Client {
  return new S3Client({
    endpoint: swift.endpoint,
    region: 'us-east-1',
    credentials: swift.s3,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function startSwift(): Promise<Swift> {
  await installPackages();
  await ensureSwiftConf();
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-swift-'));
  const procs = new Map<string, ChildProcess>();
  const stop = async () => {
    await Promise.all([...procs.values()].map((p) => kill(p, 'SIGTERM')));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const ports = { proxy: await freePort(), memcached: await freePort(), account: 0, container: 0, object: 0 };
    for (const s of SERVERS) ports[s] = await freePort();
    const key = randomBytes(12).toString('hex');
    const noRoleKey = randomBytes(12).toString('hex');
    await mkdir(join(dir, 'srv/d1'), { recursive: true });
    await buildRings(dir, ports);
    for (const s of SERVERS) await writeFile(join(dir, `${s}-server.conf`), storageServerConf(dir, s, ports[s]));
    await writeFile(join(dir, 'proxy-server.conf'), proxyConf(dir, ports, { tester: key, noRole: noRoleKey }));

    const launch = (name: string, cmd: string[]) => procs.set(name, spawnLogged(dir, name, cmd));
    launch('memcached', [
      '/usr/bin/memcached',
      '-l',
      '127.0.0.1',
      '-p',
      String(ports.memcached),
      '-U',
      '0',
      '-u',
      'root',
      '-m',
      '64',
    ]);
    // -v: log to the console too (the log file); syslog has no /dev/log here.
    for (const s of SERVERS) launch(s, [PYTHON, `/usr/bin/swift-${s}-server`, join(dir, `${s}-server.conf`), '-v']);
    const startProxy = async () => {
      launch('proxy', [PYTHON, '/usr/bin/swift-proxy-server', join(dir, 'proxy-server.conf'), '-v']);
      await waitUntil(dir, procs, async () => (await fetch(`${endpoint}/healthcheck`)).ok);
    };

    const endpoint = `http://127.0.0.1:${ports.proxy}`;
    const authUrl = `${endpoint}/auth/v1.0`;
    const swiftUser = 'test:tester';
    await startProxy();

    const swiftRequest = async (method: string, path: string) => {
      const auth = await fetch(authUrl, { headers: { 'X-Auth-User': swiftUser, 'X-Auth-Key': key } });
      if (!auth.ok) throw new Error(`tempauth: ${auth.status} ${await auth.text()}`);
      const token = auth.headers.get('x-auth-token')!;
      return fetch(`${auth.headers.get('x-storage-url')}/${path}`, { method, headers: { 'X-Auth-Token': token } });
    };
    const bucketName = 'rearguard-test';
    // The first request also waits for the account and container servers (account autocreate).
    await waitUntil(dir, procs, async () => (await swiftRequest('PUT', bucketName)).ok);

    return {
      endpoint,
      authUrl,
      swiftUser,
      swiftKey: key,
      s3: { accessKeyId: swiftUser, secretAccessKey: key },
      noRole: { accessKeyId: 'test:norole', secretAccessKey: noRoleKey },
      bucketName,
      swiftRequest,
      stopProxy: async () => {
        const proxy = procs.get('proxy');
        procs.delete('proxy');
        if (proxy) await kill(proxy, 'SIGKILL');
      },
      startProxy,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function installPackages(): Promise<void> {
  const packages = (await readFile(PACKAGES_FILE, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
  await execa(APT_INSTALL, packages, { stdin: 'ignore' });
}

/** The servers read /etc/swift/swift.conf whatever swift_dir says. Debian's package ships one. */
async function ensureSwiftConf(): Promise<void> {
  if (existsSync('/etc/swift/swift.conf')) return;
  await mkdir('/etc/swift', { recursive: true });
  const salt = () => randomBytes(8).toString('hex');
  await writeFile(
    '/etc/swift/swift.conf',
    `[swift-hash]\nswift_hash_path_suffix = ${salt()}\nswift_hash_path_prefix = ${salt()}\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n`,
  );
}

/**
 * Part power 8, 1 replica, 1 device: the smallest rings that place everything on our one dir.
 * One Python process builds all three (swift-ring-builder would take 9 runs of ~0.7 s each).
 */
async function buildRings(dir: string, ports: Record<(typeof SERVERS)[number], number>): Promise<void> {
  const script = `
import json, sys
from swift.common.ring import RingBuilder
for name, port in json.loads(sys.argv[2]).items():
    b = RingBuilder(8, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 100})
    b.rebalance()
    b.get_ring().save(f'{sys.argv[1]}/{name}.ring.gz')
`;
  const rings = Object.fromEntries(SERVERS.map((s) => [s, ports[s]]));
  await execa(PYTHON, ['-c', script, dir, JSON.stringify(rings)], { env: ENV, extendEnv: false });
}

function storageServerConf(dir: string, server: string, port: number): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = root
swift_dir = ${dir}
devices = ${join(dir, 'srv')}
# A plain directory, not a mounted disk.
mount_check = false
disable_fallocate = true

[pipeline:main]
pipeline = ${server}-server

[app:${server}-server]
use = egg:swift#${server}
`;
}

function proxyConf(dir: string, ports: { proxy: number; memcached: number }, keys: { tester: string; noRole: string }): string {
  const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'proxy-logging', 'listing_formats', 'copy', 'slo', 'dlo'];
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${ports.proxy}
workers = 0
user = root
swift_dir = ${dir}

[pipeline:main]
# s3api must come before the auth middleware; slo gives it multipart uploads.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = ${keys.tester} .admin
user_test_norole = ${keys.noRole}

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

${filters.map((f) => `[filter:${f}]\nuse = egg:swift#${f.replace('-', '_')}\n`).join('\n')}`;
}

/** Starts a server whose stdout and stderr go to `<dir>/<name>.log`; it dies with this process. */
function spawnLogged(dir: string, name: string, cmd: string[]): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  try {
    return spawn('setpriv', ['--pdeathsig', 'KILL', ...cmd], { stdio: ['ignore', log, log], env: ENV });
  } finally {
    closeSync(log);
  }
}

async function kill(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `ready` until it holds; fails at once, with the server's log, when a server exits. */
async function waitUntil(dir: string, procs: Map<string, ChildProcess>, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    for (const [name, p] of procs) {
      if (p.exitCode !== null || p.signalCode !== null) {
        const log = await readFile(join(dir, `${name}.log`), 'utf8').catch(() => '');
        throw new Error(`swift: ${name} exited (${p.exitCode ?? p.signalCode}) while starting:\n${log.slice(-3000)}`);
      }
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      // The logs go with the directory when the caller stops Swift: their tails go into the error.
      const logs = await Promise.all(
        [...procs.keys()].map(
          async (name) => `--- ${name} ---\n${(await readFile(join(dir, `${name}.log`), 'utf8').catch(() => '')).slice(-1500)}`,
        ),
      );
      throw new Error(`swift: not ready within ${READY_TIMEOUT_MS / 1000} s\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Ports for Swift's servers, from a block of 20 below the ephemeral range chosen from the pid (as
 * lab subnets are), so that the Swifts of parallel test processes never pick the same port: a
 * port probed free with bind(0) and released could be handed to another process's bind(0) before
 * its server binds it, and a proxy would then talk to another Swift's server. A port in use is
 * skipped.
 */
const PORT_BLOCK = 20;
const portBlock = 20_000 + (process.pid % 500) * PORT_BLOCK;
let portCounter = 0;

async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < PORT_BLOCK; attempt++) {
    const port = portBlock + (portCounter++ % PORT_BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`swift: no free port in ${portBlock}-${portBlock + PORT_BLOCK - 1}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}
