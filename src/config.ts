import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Where the project's own files (playbooks, migrations) live, whatever the working directory. */
export const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080');

const role = z.enum(['reader', 'operator', 'admin']);

const apiToken = z
  .strictObject({
    name: z.string().min(1),
    role,
    /** Prefer sha256 (hex of the token) so the config file holds no usable secret. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
      .optional(),
    token: z.string().min(16, 'tokens must be at least 16 characters').optional(),
  })
  .refine((t) => (t.sha256 === undefined) !== (t.token === undefined), {
    message: 'give exactly one of sha256 or token',
  });

const rearValue = z.union([z.string(), z.array(z.string())]);

export const configSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:8080'),
  dataDir: z.string().min(1).default('./var'),
  database: z.string().min(1).optional(),
  storage: z
    .strictObject({
      url: z
        .string()
        .regex(/^(file|s3|sftp):\/\//, 'expected a file://, s3:// or sftp:// URL')
        .default('file://./var/backups'),
      /** For s3:// (e.g. OpenStack Swift's s3api). The secret is best kept in a file only the daemon can read. */
      s3: z
        .strictObject({
          endpoint: z.url().optional(),
          region: z.string().min(1).default('us-east-1'),
          accessKeyId: z.string().min(1),
          secretAccessKey: z.string().min(1).optional(),
          secretAccessKeyFile: z.string().min(1).optional(),
          partSizeMiB: z.number().int().min(5).max(5120).default(8),
          queueSize: z.number().int().min(1).max(32).default(4),
          /** Parts per upload the store takes: Swift's s3api max_upload_part_num (1,000), AWS 10,000. */
          maxParts: z.number().int().min(1).max(10_000).default(1000),
        })
        .refine((s) => (s.secretAccessKey === undefined) !== (s.secretAccessKeyFile === undefined), {
          message: 'give exactly one of secretAccessKey or secretAccessKeyFile',
        })
        .optional(),
      /** For sftp://user@host/path: key auth, and the server's host key pinned (no trust on first use). */
      sftp: z
        .strictObject({
          privateKeyFile: z.string().min(1),
          hostKeySha256: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<base64> as ssh-keygen -lf prints it'),
        })
        .optional(),
    })
    .refine((s) => !s.url.startsWith('sftp://') || s.sftp !== undefined, {
      message: 'sftp:// storage needs storage.sftp (privateKeyFile and hostKeySha256)',
      path: ['sftp'],
    })
    .refine((s) => !s.url.startsWith('s3://') || s.s3 !== undefined, {
      message: 's3:// storage needs storage.s3 (accessKeyId and a secret)',
      path: ['s3'],
    })
    .prefault({}),
  /** Encryption at rest: on when recipients are given. Only public keys: the daemon never holds a way to decrypt. */
  encryption: z
    .strictObject({
      recipients: z.array(z.string().regex(/^age1[0-9a-z]{20,}$/, 'not an age recipient (age1…)')).default([]),
      /** age identities (secret keys) to restore encrypted backups with; a file only root can read. */
      identityFile: z.string().min(1).optional(),
    })
    .prefault({}),
  inventory: z.string().min(1).optional(),
  targets: z
    .strictObject({
      undercloud: z.strictObject({ group: z.string().min(1).default('Undercloud') }).prefault({}),
      overcloud: z.strictObject({ group: z.string().min(1).default('Controller') }).prefault({}),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** Anonymous access only when the operator says so explicitly. */
      anonymousRole: role.optional(),
      tokens: z.array(apiToken).default([]),
      adminTokenFile: z.string().min(1).optional(),
    })
    .prefault({}),
  backup: z
    .strictObject({
      stagingDir: z.string().startsWith('/', 'must be an absolute path on the nodes').default('/var/lib/rearguard/staging'),
      services: z.array(z.string().regex(/^[A-Za-z0-9@._-]+$/, 'not a service name')).default([]),
      serviceManager: z.enum(['auto', 'systemd', 'sysvinit', 'service']).default('auto'),
      mysqldump: z.enum(['auto', 'yes', 'no']).default('auto'),
      rear: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'not a ReaR variable name'), rearValue).default({}),
      rearCommand: z.string().min(1).default('rear'),
      /** Free space preflight demands in the staging dir of every node (an image is about the size of the used disk, compressed). */
      minFreeMB: z.number().int().min(0).default(2048),
    })
    .prefault({}),
  ansible: z
    .strictObject({
      playbookDir: z.string().min(1).default(resolve(projectDir, 'playbooks')),
      env: z.record(z.string(), z.string()).default({}),
      /** How long the inventory's answer is reused while its file is unchanged: a request reads none in the common case. */
      inventoryCacheSeconds: z.number().int().min(0).max(3600).default(10),
    })
    .prefault({}),
  transfer: z
    .strictObject({
      /** Nodes whose artefacts stream to storage at the same time (each node's artefacts go one after another). */
      concurrentNodes: z.number().int().min(1).max(64).default(3),
    })
    .prefault({}),
  /** Network boot for restores: TFTP (bootloaders + staged files) and HTTP boot on the API's own server. */
  boot: z
    .strictObject({
      /** What the TFTP server serves; bootloaders are copied in at start-up. Default: <dataDir>/tftp. */
      root: z.string().min(1).optional(),
      /** Where TFTP listens: the provisioning network's address in production (port 69). */
      tftpListen: hostPort.default('127.0.0.1:6969'),
      /** How booting nodes and their rescue system reach this daemon's HTTP server. Default: the address it listens on. */
      httpUrl: z.url().optional(),
      /** Kernel arguments of the rescue system: `unattended` is ReaR's non-interactive recover, then reboot. */
      kernelArgs: z.string().default('unattended console=tty0 console=ttyS0,115200n8'),
    })
    .prefault({}),
  power: z
    .strictObject({
      driver: z.enum(['manual', 'command', 'ipmi', 'ironic', 'qemu']).default('manual'),
      command: z
        .strictObject({ network: z.array(z.string().min(1)).min(1), disk: z.array(z.string().min(1)).min(1).optional() })
        .optional(),
      ipmi: z.strictObject({ interface: z.string().min(1).default('lanplus'), passwordFile: z.string().min(1) }).optional(),
      ironic: z.strictObject({ env: z.record(z.string(), z.string()).default({}) }).prefault({}),
    })
    .refine((p) => p.driver !== 'command' || p.command !== undefined, {
      message: 'the command power driver needs power.command.network',
      path: ['command'],
    })
    .refine((p) => p.driver !== 'ipmi' || p.ipmi !== undefined, {
      message: 'the ipmi power driver needs power.ipmi.passwordFile',
      path: ['ipmi'],
    })
    .prefault({}),
  restore: z
    .strictObject({
      /**
       * Per phase: power-on until the initrd is fetched, until the rescue system reports, until recover ends, until the
       * node answers over ssh from its restored disk (ReaR waits 30 s before its reboot; a server's firmware takes minutes).
       */
      bootTimeoutSeconds: z.number().int().min(5).default(900),
      rescueTimeoutSeconds: z.number().int().min(5).default(900),
      recoverTimeoutSeconds: z
        .number()
        .int()
        .min(5)
        .default(4 * 3600),
      diskBootTimeoutSeconds: z.number().int().min(5).default(1200),
    })
    .prefault({}),
  runs: z
    .strictObject({
      leaseSeconds: z.number().int().min(5).max(3600).default(30),
    })
    .prefault({}),
  /** Limits of the HTTP edge: anything over them is refused with a problem+json before a handler runs. */
  http: z
    .strictObject({
      /** Request target (path and query): 414 above. */
      maxUrlBytes: z.number().int().min(256).max(1_048_576).default(8192),
      /** Header names and values together: 431 above. */
      maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
      /** Request body: 413 above. No route takes more than a small JSON document. */
      maxBodyBytes: z.number().int().min(0).max(1_073_741_824).default(1_048_576),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema> & {
  database: string;
  auth: { adminTokenFile: string };
  boot: { root: string };
};
export type Role = z.infer<typeof role>;

export class ConfigError extends Error {}

/** Loads the config file (if any), applies env overrides, validates, and resolves derived defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.REARGUARD_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${file} must hold a mapping`);
  }
  if (env.REARGUARD_LISTEN) raw = { ...raw, listen: env.REARGUARD_LISTEN };
  if (env.REARGUARD_TFTP_LISTEN) {
    const boot = typeof raw.boot === 'object' && raw.boot !== null ? raw.boot : {};
    raw = { ...raw, boot: { ...boot, tftpListen: env.REARGUARD_TFTP_LISTEN } };
  }
  return parseConfig(raw, file ?? 'embedded defaults');
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join('.') || '(root)';
    throw new ConfigError(`invalid config (${source}): ${field}: ${issue.message}`);
  }
  const c = result.data;
  return {
    ...c,
    database: c.database ?? `${c.dataDir}/rearguard.db`,
    auth: { ...c.auth, adminTokenFile: c.auth.adminTokenFile ?? `${c.dataDir}/admin.token` },
    boot: { ...c.boot, root: c.boot.root ?? `${c.dataDir}/tftp` },
  };
}
