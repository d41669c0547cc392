import { execa } from 'execa';
import type { TargetHost } from '../core/ports.ts';

export interface InventoryHost extends TargetHost {
  /** Every group the host belongs to, directly or through child groups (not `all`/`ungrouped`). */
  groups: string[];
}

export interface Inventory {
  hosts: InventoryHost[];
  /** Group name -> host names, members of child groups included. */
  groups: Record<string, string[]>;
}

interface ListedGroup {
  hosts?: string[];
  children?: string[];
}

type ListOutput = Record<string, ListedGroup> & {
  _meta?: { hostvars?: Record<string, Record<string, unknown>> };
};

const IMPLICIT_GROUPS = new Set(['all', 'ungrouped']);

/**
 * Reads any inventory format ansible understands by asking `ansible-inventory` itself, so the
 * daemon sees exactly the hosts and connection settings the playbooks will use.
 */
export async function readInventory(file: string): Promise<Inventory> {
  const { stdout } = await execa('ansible-inventory', ['-i', file, '--list'], {
    // Without this, an unreadable inventory is only a warning and yields an empty list.
    env: { ANSIBLE_INVENTORY_UNPARSED_FAILED: 'True', ANSIBLE_NOCOLOR: '1' },
    stdin: 'ignore',
  });
  const listed = JSON.parse(stdout) as ListOutput;
  const hostvars = listed._meta?.hostvars ?? {};

  const members = new Map<string, Set<string>>();
  const collect = (group: string, seen: Set<string>): Set<string> => {
    const known = members.get(group);
    if (known) return known;
    const hosts = new Set(listed[group]?.hosts ?? []);
    seen.add(group);
    for (const child of listed[group]?.children ?? []) {
      if (!seen.has(child)) for (const h of collect(child, seen)) hosts.add(h);
    }
    members.set(group, hosts);
    return hosts;
  };

  const groups: Record<string, string[]> = {};
  const hostGroups = new Map<string, string[]>();
  for (const name of Object.keys(listed)) {
    if (name === '_meta' || IMPLICIT_GROUPS.has(name)) continue;
    const hosts = [...collect(name, new Set())].sort();
    groups[name] = hosts;
    for (const h of hosts) hostGroups.set(h, [...(hostGroups.get(h) ?? []), name]);
  }

  const names = new Set([...collect('all', new Set()), ...Object.keys(hostvars)]);
  const hosts = [...names].sort().map((name) => toHost(name, hostvars[name] ?? {}, hostGroups.get(name) ?? []));
  return { hosts, groups };
}

function toHost(name: string, vars: Record<string, unknown>, groups: string[]): InventoryHost {
  const first = (...keys: string[]) => {
    for (const k of keys) {
      const v = vars[k];
      if ((typeof v === 'string' && v !== '') || typeof v === 'number') return String(v);
    }
    return undefined;
  };
  const host: InventoryHost = {
    name,
    address: first('ansible_host', 'ansible_ssh_host') ?? name,
    port: Number(first('ansible_port', 'ansible_ssh_port') ?? 22),
    user: first('ansible_user', 'ansible_ssh_user') ?? 'root',
    connection: first('ansible_connection') === 'local' ? 'local' : 'ssh',
    groups: [...groups].sort(),
    vars: Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('rearguard_'))),
  };
  const key = first('ansible_ssh_private_key_file', 'ansible_private_key_file');
  if (key) host.privateKeyFile = key;
  return host;
}
