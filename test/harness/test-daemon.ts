import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { createLogger } from '../../src/logger.ts';

export const tokens = {
  reader: 'reader-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
} as const;
export type TestRole = keyof typeof tokens;

export const fixturePlaybooks = resolve(import.meta.dirname, '../fixtures/playbooks');

/** Hosts on the local connection: the fixture playbooks make small artefacts there. */
export interface FixtureHosts {
  undercloud?: Record<string, Record<string, unknown>>;
  overcloud?: Record<string, Record<string, unknown>>;
}

export function fixtureInventory(hosts: FixtureHosts = { undercloud: { undercloud: {} } }) {
  const group = (h: Record<string, Record<string, unknown>> = {}) => ({
    hosts: Object.fromEntries(
      Object.entries(h).map(([name, vars]) => [
        name,
        { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3', ...vars },
      ]),
    ),
  });
  return { all: { children: { Undercloud: group(hosts.undercloud), Controller: group(hosts.overcloud) } } };
}

/** A test workspace: temp dir with config, inventory, staging dir and storage. */
export class Workspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'rearguard-test-'));
  readonly staging = join(this.dir, 'staging');
  readonly storage = join(this.dir, 'storage');
  readonly inventoryFile = join(this.dir, 'inventory.yml');

  constructor(hosts?: FixtureHosts) {
    this.setHosts(hosts);
  }

  setHosts(hosts?: FixtureHosts): void {
    writeFileSync(this.inventoryFile, stringify(fixtureInventory(hosts)));
  }

  rawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      listen: '127.0.0.1:0',
      dataDir: join(this.dir, 'var'),
      storage: { url: `file://${this.storage}` },
      inventory: this.inventoryFile,
      auth: { tokens: Object.entries(tokens).map(([role, token]) => ({ name: `${role}-client`, role, token })) },
      backup: { stagingDir: this.staging },
      ansible: { playbookDir: fixturePlaybooks },
      boot: { tftpListen: '127.0.0.1:0' },
      log: { level: 'warn' },
      ...overrides,
    };
  }

  config(overrides: Record<string, unknown> = {}): Config {
    return parseConfig(this.rawConfig(overrides));
  }

  writeConfig(overrides: Record<string, unknown> = {}): string {
    const file = join(this.dir, 'rearguard.yml');
    writeFileSync(file, stringify(this.rawConfig(overrides)));
    return file;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Client {
  request(method: string, path: string, opts?: { role?: TestRole | null; headers?: Record<string, string> }): Promise<Response>;
  json<T = any>(
    method: string,
    path: string,
    opts?: { role?: TestRole | null; status?: number; headers?: Record<string, string> },
  ): Promise<T>;
}

export function client(baseUrl: string): Client {
  const request: Client['request'] = (method, path, opts = {}) => {
    const role = opts.role === undefined ? 'admin' : opts.role;
    return fetch(baseUrl + path, {
      method,
      headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...opts.headers },
    });
  };
  return {
    request,
    async json(method, path, opts = {}) {
      const res = await request(method, path, opts);
      const body = await res.json();
      const expected = opts.status ?? 200;
      if (res.status !== expected)
        throw new Error(`${method} ${path}: expected ${expected}, got ${res.status}: ${JSON.stringify(body)}`);
      return body;
    },
  };
}

export async function startTestDaemon(
  ws: Workspace,
  overrides: Record<string, unknown> = {},
  logLines?: string[],
): Promise<Daemon & Client> {
  const config = ws.config(overrides);
  const log = createLogger(config.log.level, logLines ? { write: (line: string) => void logLines.push(line) } : undefined);
  const daemon = await startDaemon(config, log);
  return Object.assign(daemon, client(daemon.url));
}

/** Polls until the run has ended; returns it. */
export async function waitForRun(c: Client, runId: string, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await c.json('GET', `/v1/runs/${runId}`);
    if (!['queued', 'running'].includes(run.state)) return run;
    if (Date.now() > until) throw new Error(`run ${runId} still ${run.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until a file exists (fixture playbooks mark their progress with files). */
export async function waitForFile(path: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
