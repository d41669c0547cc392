import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TargetHost } from '../../src/core/ports.ts';
import { openSshSession } from '../../src/nodes/ssh-node.ts';
import { startLab, type Lab } from '../harness/lab.ts';

let lab: Lab;
let host: TargetHost;
let fingerprint: string;
const scratch = mkdtempSync('/var/tmp/rearguard-ssh-node-');

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: false, groups: ['Undercloud'] });
  const n = lab.nodes[0]!;
  host = { name: n.name, address: n.address, port: n.sshPort, user: 'root', privateKeyFile: n.privateKeyFile, connection: 'ssh' };
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(lab.dir, 'ssh_host_ed25519_key.pub')]);
  fingerprint = /SHA256:(\S+)/.exec(stdout)![1]!;
});
afterAll(async () => {
  await lab?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const pinStore = (initial: string | null = null) => {
  let pinned = initial;
  return { get: () => pinned, pin: (_: string, sha: string) => void (pinned = sha), current: () => pinned };
};

describe('ssh node sessions', () => {
  test('pin the host key at first contact (the fingerprint OpenSSH shows), then read files and run commands', async () => {
    const pins = pinStore();
    const session = await openSshSession(host, pins);
    try {
      expect(pins.current()!.replace(/=+$/, '')).toBe(fingerprint);
      expect((await session.exec('echo hello; exit 3')).stdout).toBe('hello\n');
      expect((await session.exec('exit 3')).code).toBe(3);
      const file = join(scratch, 'artefact.bin');
      writeFileSync(file, Buffer.alloc(3 << 20, 7));
      const bytes = Buffer.concat(await (await session.readFile(file)).toArray());
      expect(bytes.length).toBe(3 << 20);
      expect(bytes.every((b) => b === 7)).toBe(true);
      await expect(text(await session.readFile(join(scratch, 'missing')))).rejects.toThrow(/No such file/);
    } finally {
      session.close();
    }
    // The pinned key is accepted again.
    (await openSshSession(host, pins)).close();
  });

  test('a host key other than the pinned one is refused with both fingerprints named', async () => {
    const pins = pinStore('AAAAnotTheRightKeyAAAAAAAAAAAAAAAAAAAAAAAAA=');
    await expect(openSshSession(host, pins)).rejects.toThrow(/host key of .* changed \(pinned SHA256:AAAAnot.*offered SHA256:/);
    expect(pins.current()).toBe('AAAAnotTheRightKeyAAAAAAAAAAAAAAAAAAAAAAAAA=');
  });

  test('an unreachable node fails within the connect timeout with the reason', async () => {
    const dead = { ...host, address: lab.deadAddress };
    await expect(openSshSession(dead, pinStore(), 2000)).rejects.toThrow(/Timed out|EHOSTUNREACH|ECONNREFUSED/);
  });
});
