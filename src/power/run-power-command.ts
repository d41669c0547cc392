import { execa } from 'execa';

/**
 * Runs one power-control command. Secrets reach it through its environment (IPMI_PASSWORD,
 * clouds.yaml via OS_CLOUD), never its arguments; its stderr names what went wrong.
 */
export async function runPowerCommand(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const [file, ...args] = argv;
  if (!file) throw new Error('empty power command');
  const r = await execa(file, args, { env, reject: false, stdin: 'ignore', timeout: 120_000 });
  if (r.failed) {
    const why = String(r.stderr || r.stdout || r.shortMessage)
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ');
    throw new Error(`${[file, ...args].join(' ')} failed${r.exitCode !== undefined ? ` (exit ${r.exitCode})` : ''}: ${why}`);
  }
  return r.stdout;
}
