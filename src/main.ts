import { ConfigError, loadConfig } from './config.ts';
import { startDaemon, type Daemon } from './daemon.ts';

let config;
try {
  config = loadConfig();
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
