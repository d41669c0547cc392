import type { LabNode } from './lab-node.ts';

/**
 * MariaDB inside an own-root node. There is no systemd in the node, so it runs from its
 * sysvinit script; root logs in through the unix socket, no password anywhere.
 */

async function run(node: LabNode, cmd: string): Promise<string> {
  const r = await node.exec(cmd);
  if (r.exitCode !== 0) throw new Error(`${node.name}: ${cmd}: exit ${r.exitCode}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export async function startMariadb(node: LabNode): Promise<void> {
  await run(node, '/etc/init.d/mariadb start');
}

export async function stopMariadb(node: LabNode): Promise<void> {
  await run(node, '/etc/init.d/mariadb stop');
}

export async function mariadbRunning(node: LabNode): Promise<boolean> {
  return (await node.exec('mysqladmin --connect-timeout=2 ping')).exitCode === 0;
}

/** Adds a row to rearguard_test.marker (created on first use). */
export async function writeTestRow(node: LabNode, value: string): Promise<void> {
  if (!/^[\w.-]+$/.test(value)) throw new Error('test row value must be a simple word');
  await run(
    node,
    `mysql -e "CREATE DATABASE IF NOT EXISTS rearguard_test;
      CREATE TABLE IF NOT EXISTS rearguard_test.marker (id INT AUTO_INCREMENT PRIMARY KEY, value VARCHAR(200));
      INSERT INTO rearguard_test.marker (value) VALUES ('${value}');"`,
  );
}

export async function readTestRows(node: LabNode): Promise<string[]> {
  const out = await run(node, 'mysql -N -B -e "SELECT value FROM rearguard_test.marker ORDER BY id"');
  return out.split('\n').filter(Boolean);
}
