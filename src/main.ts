import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, projectDir } from './config.ts';
import { startDaemon, type Daemon } from './daemon.ts';

const USAGE = `usage: rearguardd [--config FILE]

Backup-as-a-service daemon: serves the REST API, the TFTP/HTTP boot servers, and runs backups and
restores. Without --config, REARGUARD_CONFIG names the config file; without either, it runs on
embedded defaults (./var). See the README for the config keys and their REARGUARD_* variables.

  -c, --config FILE   the config file (YAML or JSON)
  -h, --help          this text
  -V, --version       the version
`;

// Arguments first: --help or a typo must never reach the records, a lock or a node.
let args;
try {
  args = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
    allowPositionals: false,
    strict: true,
  }).values;
} catch (err) {
  process.stderr.write(`rearguardd: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (args.version) {
  const { version } = JSON.parse(readFileSync(resolve(projectDir, 'package.json'), 'utf8')) as { version: string };
  process.stdout.write(`rearguardd ${version}\n`);
  process.exit(0);
}

let config;
try {
  config = loadConfig(args.config === undefined ? process.env : { ...process.env, REARGUARD_CONFIG: args.config });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`rearguard: ${err.message}\n`);
  process.exit(2);
}

// Handlers go in before start-up: a stop asked for during start-up recovery waits for it to finish.
let daemon: Daemon | undefined;
let stopAsked: NodeJS.Signals | undefined;
const stop = (signal: NodeJS.Signals) => {
  daemon!.log.info({ signal }, 'stopping: live runs are stopped at a safe point and their services restarted');
  daemon!.stop().then(
    () => process.exit(0),
    (err: Error) => {
      daemon!.log.error({ err }, 'unclean stop');
      process.exit(1);
    },
  );
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopAsked) return;
    stopAsked = signal;
    if (daemon) stop(signal);
  });
}

try {
  daemon = await startDaemon(config);
} catch (err) {
  // E.g. the port is taken or a storage secret file is unreadable: one line, not a stack.
  process.stderr.write(`rearguard: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
if (stopAsked) stop(stopAsked);
