import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInventory } from '../../src/ansible/inventory.ts';
import { startLab, type Lab } from '../harness/lab.ts';

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ nodes: 3, withRoot: false });
}, 60_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('readInventory', () => {
  it('reads the lab inventory with addresses, keys and groups', { timeout: 30_000 }, async () => {
    const inventory = await readInventory(lab.inventoryFile);
    expect(inventory.hosts).toEqual(
      lab.nodes
        .map((n) => ({
          name: n.name,
          address: n.address,
          port: 22,
          user: 'root',
          privateKeyFile: n.privateKeyFile,
          connection: 'ssh',
          groups: [n.group],
          vars: {},
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(inventory.groups).toEqual({ Undercloud: ['undercloud-0'], Controller: ['controller-0', 'controller-1'] });
  });

  it('reads YAML with nested groups, local connections and defaults', { timeout: 30_000 }, async () => {
    const file = join(lab.dir, 'inventory.yml');
    await writeFile(
      file,
      `all:
  children:
    overcloud:
      children:
        Controller:
          hosts:
            ctl-a: { ansible_host: 192.0.2.10, ansible_port: 2222, ansible_user: heat-admin, ansible_password: not-kept, rearguard_ipmi_address: 192.0.2.110 }
            ctl-b: {}
    Undercloud:
      hosts:
        uc: { ansible_connection: local }
`,
    );
    const { hosts, groups } = await readInventory(file);
    expect(groups).toEqual({ overcloud: ['ctl-a', 'ctl-b'], Controller: ['ctl-a', 'ctl-b'], Undercloud: ['uc'] });
    expect(hosts).toEqual([
      {
        name: 'ctl-a',
        address: '192.0.2.10',
        port: 2222,
        user: 'heat-admin',
        connection: 'ssh',
        groups: ['Controller', 'overcloud'],
        // Only the host's rearguard_* variables are kept (e.g. its BMC for IPMI power control).
        vars: { rearguard_ipmi_address: '192.0.2.110' },
      },
      {
        name: 'ctl-b',
        address: 'ctl-b',
        port: 22,
        user: 'root',
        connection: 'ssh',
        groups: ['Controller', 'overcloud'],
        vars: {},
      },
      { name: 'uc', address: 'uc', port: 22, user: 'root', connection: 'local', groups: ['Undercloud'], vars: {} },
    ]);
  });

  it('fails on an inventory ansible cannot parse', { timeout: 30_000 }, async () => {
    await expect(readInventory(join(lab.dir, 'missing.ini'))).rejects.toThrow();
  });
});
