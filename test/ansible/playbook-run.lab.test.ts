import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlaybook, type PlaybookEvent } from '../../src/ansible/playbook-run.ts';
import { startLab, type Lab } from '../harness/lab.ts';

let lab: Lab;

/** The command line of the running ansible-playbook of this playbook, as any local user sees it. */
function ansibleCommandLine(playbookPath: string): string {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const args = readFileSafe(`/proc/${pid}/cmdline`).split('\0');
    if (args.some((a) => a.endsWith('ansible-playbook')) && args.includes(playbookPath)) return args.join(' ');
  }
  return '';
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Writes a one-play playbook (hosts: all) into the lab dir. */
async function playbook(name: string, tasks: string): Promise<string> {
  const path = join(lab.dir, `${name}.yml`);
  await writeFile(path, `- hosts: all\n  gather_facts: false\n  tasks:\n${tasks}`);
  return path;
}

beforeAll(async () => {
  lab = await startLab({ nodes: 2, withRoot: false });
}, 60_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('runPlaybook', () => {
  it('streams events while ansible runs and keeps extra vars off the command line', { timeout: 60_000 }, async () => {
    const path = await playbook(
      'stream',
      `    - name: "phase1: ping"
      ansible.builtin.ping:
    - name: "phase2: slow"
      ansible.builtin.command: sleep 2
`,
    );
    const events: Array<PlaybookEvent & { receivedAt: number }> = [];
    let commandLine = '';
    const result = await runPlaybook({
      playbook: path,
      inventory: lab.inventoryFile,
      extraVars: { secret_token: 'hunter2-do-not-leak' },
      onEvent: (e) => {
        events.push({ ...e, receivedAt: Date.now() });
        if (e.type === 'task_start' && e.task === 'phase2: slow') commandLine = ansibleCommandLine(path);
      },
    });
    const finishedAt = Date.now();

    expect(result).toMatchObject({ exitCode: 0, cancelled: false, failures: [] });
    expect(Object.keys(result.stats).sort()).toEqual(lab.nodes.map((n) => n.name).sort());
    const firstOk = events.find((e) => e.type === 'host_ok' && e.task === 'phase1: ping');
    expect(firstOk).toBeDefined();
    // The ping result arrived before the 2 s sleep, i.e. while ansible-playbook was running.
    expect(finishedAt - firstOk!.receivedAt).toBeGreaterThan(1_500);
    expect(events.at(-1)?.type).toBe('stats');

    expect(commandLine).toMatch(/-e @\S+extra-vars\.json/);
    expect(commandLine).not.toContain('hunter2');
  });

  it('reports a failing task with its stderr', { timeout: 60_000 }, async () => {
    const path = await playbook(
      'fail',
      `    - name: "image: break"
      ansible.builtin.shell: 'echo working; echo "boom: disk on fire" >&2; exit 3'
`,
    );
    const failed: PlaybookEvent[] = [];
    const result = await runPlaybook({
      playbook: path,
      inventory: lab.inventoryFile,
      limit: lab.nodes[0]!.name,
      extraVars: {},
      onEvent: (e) => e.type === 'host_failed' && failed.push(e),
    });
    expect(result.exitCode).toBe(2);
    expect(failed).toHaveLength(1);
    expect(result.failures).toEqual([{ host: lab.nodes[0]!.name, task: 'image: break', message: 'rc=3: boom: disk on fire' }]);
    expect(result.stats[lab.nodes[0]!.name]?.failures).toBe(1);
  });

  it('reports an unreachable host with exit code 4', { timeout: 60_000 }, async () => {
    const inventory = join(lab.dir, 'dead.ini');
    const node = lab.nodes[0]!;
    await writeFile(
      inventory,
      `ghost ansible_host=${lab.deadAddress} ansible_user=root ansible_ssh_private_key_file=${node.privateKeyFile}\n`,
    );
    const path = await playbook('ping', '    - name: "preflight: reachable"\n      ansible.builtin.ping:\n');
    const events: PlaybookEvent[] = [];
    const result = await runPlaybook({
      playbook: path,
      inventory,
      extraVars: {},
      env: { ANSIBLE_TIMEOUT: '3' },
      onEvent: (e) => events.push(e),
    });
    expect(result.exitCode).toBe(4);
    expect(result.stats.ghost?.unreachable).toBe(1);
    const unreachable = events.find((e) => e.type === 'host_unreachable');
    expect(unreachable).toMatchObject({ host: 'ghost', task: 'preflight: reachable' });
    expect(result.failures[0]?.message).toMatch(/Failed to connect to the host via ssh/);
  });

  it('cancels a run on abort', { timeout: 60_000 }, async () => {
    const path = await playbook('sleep', '    - name: "image: long"\n      ansible.builtin.command: sleep 120\n');
    const controller = new AbortController();
    const started = Date.now();
    const result = await runPlaybook({
      playbook: path,
      inventory: lab.inventoryFile,
      extraVars: {},
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'task_start' && e.task === 'image: long') setTimeout(() => controller.abort(), 1_000);
      },
    });
    expect(result.cancelled).toBe(true);
    expect(result.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
