import { ConfigError, loadConfig } from './config.ts';
import { startDaemon } from './daemon.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`rearguard: ${err.message}\n`);
  process.exit(2);
}

const daemon = await startDaemon(config);
let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) return;
    daemon.log.info({ signal }, 'stopping: live runs are stopped at a safe point and their services restarted');
    daemon.stop().then(
      () => process.exit(0),
      (err: Error) => {
        daemon.log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
