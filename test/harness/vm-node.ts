import { execa } from 'execa';
import { writeFile, readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { addTap, fixedAddress, ownedByNet, PXE_ENV, tail, waitForOutput, type PxeNet } from './pxe-net.ts';
import { qemuMachine, spawnQemu } from './pxe-vm.ts';

/**
 * A lab VM with its own disk on a PXE net: the cached Debian 12 image of scripts/vm-image.sh
 * (GRUB in the MBR, systemd, DHCP on every NIC, sshd with the image's host key, MariaDB, ReaR),
 * or a blank disk (a restore target). It boots from its disk unless told to boot from its NIC
 * (the iPXE ROM of the e1000), and it stays a VM across guest power-offs: `-no-shutdown` leaves
 * qemu paused in state 'shutdown', and QMP `system_reset` + `cont` powers it on again. Reboots
 * stay inside the same qemu.
 *
 * Switching the boot device at runtime: `setBootOrder('network' | 'disk')` (QMP qom-set of the
 * devices' bootindex), takes effect at the next reset.
 */
export interface VmImage {
  dir: string;
  disk: string;
  privateKeyFile: string;
  /** The image's host key, `ssh-ed25519 AAAA…` (no comment). */
  hostKeyPub: string;
}

export interface VmNodeOptions {
  mac: string;
  /** Default 1024. */
  memoryMiB?: number;
  cpus?: number;
  /**
   * image: a qcow2 overlay (in the net's dir) backed by the cached disk.raw, which is never
   * written; `sizeMiB` grows its virtual size (default: the image's). blankMiB: a sparse raw
   * disk of that size (in the net's dir).
   */
  disk: { from: 'image'; sizeMiB?: number } | { blankMiB: number };
  /** First boot device (default 'disk'). */
  boot?: 'disk' | 'network';
  /** Each console chunk as it comes (raw). */
  onConsole?: (chunk: string) => void;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface VmNode {
  mac: string;
  /** Its fixed DHCP address on the net (dnsmasq must run on the net: startDhcp). */
  address: string;
  qmpSocket: string;
  diskPath: string;
  privateKeyFile: string;
  /** The host key the node must answer with (the image's), `ssh-ed25519 AAAA…`. */
  hostKeyPub: string;
  /** A known_hosts file holding only `address hostKeyPub`. */
  knownHostsFile: string;
  /** The console as a terminal would show it (see pxe-vm.ts). */
  console(): string;
  rawConsole(): string;
  /** Length of console() now: pass as `from` to wait only for what comes after. */
  consoleMark(): number;
  waitForConsole(pattern: RegExp, timeoutMs: number, from?: number): Promise<string>;
  /** Resolves when `ssh root@address true` works with the image's host key; rejects on a different host key. */
  waitForSsh(timeoutMs: number): Promise<void>;
  ssh(command: string, opts?: { timeoutMs?: number; input?: string }): Promise<SshResult>;
  /** One QMP command (`execute` with `arguments`); resolves with its `return`, rejects with its `error`. */
  qmp(execute: string, args?: Record<string, unknown>): Promise<unknown>;
  /** An HMP command through QMP (human-monitor-command); resolves with its output. */
  hmp(commandLine: string): Promise<string>;
  /** The run state (`running`, `shutdown` after a guest power-off, `paused`, …). */
  status(): Promise<string>;
  /** Which device boots first after the next reset. */
  setBootOrder(first: 'disk' | 'network'): Promise<void>;
  /** system_reset + cont: reboots a running guest, powers on one that powered off. */
  reset(): Promise<void>;
  exited: Promise<{ exitCode?: number; signal?: string }>;
  stop(): Promise<void>;
}

const VM_IMAGE = resolve(import.meta.dirname, '../../scripts/vm-image.sh');
const APT_INSTALL = resolve(import.meta.dirname, '../../scripts/apt-install.sh');
/** qemu-img (overlays), what vm-image.sh builds with, the ssh client. */
const PACKAGES = ['qemu-utils', 'qemu-system-x86', 'ipxe-qemu', 'e2fsprogs', 'fdisk', 'openssh-client', 'debootstrap'];

let image: Promise<VmImage> | undefined;

/** Builds (once per cache key, see scripts/vm-image.sh) and describes the VM image. */
export function vmImage(): Promise<VmImage> {
  return (image ??= (async () => {
    await execa(APT_INSTALL, PACKAGES, { stdin: 'ignore', env: PXE_ENV });
    const built = await execa(VM_IMAGE, [], { stdin: 'ignore', env: PXE_ENV, extendEnv: true, reject: false });
    if (built.exitCode !== 0) {
      throw new Error(`scripts/vm-image.sh failed (${built.exitCode}):\n${tail(String(built.stderr), 60)}`);
    }
    const dir = String(built.stdout).trim().split('\n').pop()!;
    const hostKeyPub = (await readFile(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    return { dir, disk: join(dir, 'disk.raw'), privateKeyFile: join(dir, 'id_ed25519'), hostKeyPub };
  })().catch((err: unknown) => {
    image = undefined;
    throw err;
  }));
}

let vmCounter = 0;

export async function startVmNode(net: PxeNet, opts: VmNodeOptions): Promise<VmNode> {
  const img = await vmImage();
  const mac = opts.mac.toLowerCase();
  const address = await fixedAddress(net, mac);
  const n = vmCounter++;
  const base = join(net.dir, `node${n}`);
  const qmpSocket = `${base}-qmp.sock`;
  const knownHostsFile = `${base}-known_hosts`;
  await writeFile(knownHostsFile, `${address} ${img.hostKeyPub}\n`);

  let diskPath: string;
  let diskFormat: 'qcow2' | 'raw';
  if ('from' in opts.disk) {
    diskPath = `${base}-disk.qcow2`;
    diskFormat = 'qcow2';
    const size = opts.disk.sizeMiB ? [`${opts.disk.sizeMiB}M`] : [];
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', img.disk, '-F', 'raw', diskPath, ...size], { env: PXE_ENV });
  } else {
    diskPath = `${base}-disk.raw`;
    diskFormat = 'raw';
    await execa('truncate', ['-s', `${opts.disk.blankMiB}M`, diskPath]);
  }

  const tap = `vtap${n}`;
  const removeTap = await addTap(net, tap);
  const unregisterTap = ownedByNet(net, removeTap);
  const netFirst = opts.boot === 'network';
  const argv = [
    // The image's GRUB and kernel use the serial port themselves (console=ttyS0).
    ...qemuMachine(tap, opts),
    '-device',
    `e1000,netdev=n0,mac=${mac},id=nic0,bootindex=${netFirst ? 1 : 2}`,
    '-drive',
    `file=${diskPath},format=${diskFormat},if=none,id=drive0,cache=unsafe,discard=unmap`,
    '-device',
    `virtio-blk-pci,drive=drive0,id=disk0,bootindex=${netFirst ? 2 : 1}`,
    '-qmp',
    `unix:${qmpSocket},server=on,wait=off`,
    '-no-shutdown',
  ];
  const vm = spawnQemu(net, argv, { remove: removeTap, unregister: unregisterTap }, opts.onConsole);
  const { qemu, screen, stop } = vm;
  const describe = () => `VM node ${mac} (${address}) ${vm.describe()}`;

  const sshArgs = (timeoutS: number) => [
    '-F',
    '/dev/null',
    '-i',
    img.privateKeyFile,
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    `ConnectTimeout=${timeoutS}`,
    '-o',
    'ServerAliveInterval=10',
    `root@${address}`,
  ];
  const ssh = async (command: string, o: { timeoutMs?: number; input?: string } = {}): Promise<SshResult> => {
    const r = await execa('ssh', [...sshArgs(10), command], {
      env: PXE_ENV,
      extendEnv: false,
      reject: false,
      timeout: o.timeoutMs,
      ...(o.input !== undefined ? { input: o.input } : { stdin: 'ignore' as const }),
    });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  };

  let qmpChain: Promise<unknown> = Promise.resolve();
  const qmp = (execute: string, args?: Record<string, unknown>): Promise<unknown> => {
    const next = qmpChain.then(() => qmpCommand(qmpSocket, execute, args));
    qmpChain = next.catch(() => undefined);
    return next;
  };
  const setBootIndex = (id: string, index: number) =>
    qmp('qom-set', { path: `/machine/peripheral/${id}`, property: 'bootindex', value: index });

  return {
    mac,
    address,
    qmpSocket,
    diskPath,
    privateKeyFile: img.privateKeyFile,
    hostKeyPub: img.hostKeyPub,
    knownHostsFile,
    console: () => screen.text(),
    rawConsole: vm.raw,
    consoleMark: () => screen.text().length,
    waitForConsole: (pattern, timeoutMs, from = 0) => {
      const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      return waitForOutput(qemu, () => (re.test(screen.text().slice(from)) ? screen.text() : undefined), timeoutMs, describe);
    },
    waitForSsh: async (timeoutMs) => {
      const until = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        if (qemu.hasExited()) throw new Error(`qemu exited before ssh answered: ${describe()}`);
        const left = until - Date.now();
        const r = await execa('ssh', [...sshArgs(Math.max(1, Math.min(5, Math.ceil(left / 1000)))), 'true'], {
          env: PXE_ENV,
          extendEnv: false,
          reject: false,
          stdin: 'ignore',
          timeout: Math.max(2000, Math.min(15_000, left)),
        });
        if (r.exitCode === 0) return;
        last = String(r.stderr);
        if (/Host key verification failed|IDENTIFICATION HAS CHANGED/.test(last)) {
          throw new Error(`${address} answered with another host key than the image's:\n${last}`);
        }
        if (Date.now() >= until) throw new Error(`no ssh to ${address} after ${timeoutMs} ms: ${last.trim()}\n${describe()}`);
        await new Promise((res) => setTimeout(res, 1000));
      }
    },
    ssh,
    qmp,
    hmp: async (commandLine) => String(await qmp('human-monitor-command', { 'command-line': commandLine })),
    status: async () => ((await qmp('query-status')) as { status: string }).status,
    setBootOrder: async (first) => {
      // qemu refuses a bootindex another device holds: move both out of the way first.
      await setBootIndex('nic0', 101);
      await setBootIndex('disk0', 102);
      await setBootIndex('nic0', first === 'network' ? 1 : 2);
      await setBootIndex('disk0', first === 'network' ? 2 : 1);
    },
    reset: async () => {
      await qmp('system_reset');
      await qmp('cont');
    },
    exited: qemu.exited,
    stop,
  };
}

/** Connects to a QMP socket, negotiates capabilities, runs one command and closes. */
export function qmpCommand(
  socket: string,
  execute: string,
  args?: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const conn = createConnection(socket);
    let buffer = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const timer = setTimeout(() => finish(new Error(`QMP ${execute} on ${socket}: no answer in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolvePromise(value);
    };
    const send = (msg: object) => conn.write(`${JSON.stringify(msg)}\n`);
    conn.on('error', (err) => finish(new Error(`QMP ${execute} on ${socket}: ${err.message}`)));
    conn.on('data', (data) => {
      buffer += data.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as {
          QMP?: unknown;
          event?: string;
          return?: unknown;
          error?: { class: string; desc: string };
        };
        if (msg.event) continue;
        if (stage === 'greeting' && msg.QMP) {
          stage = 'capabilities';
          send({ execute: 'qmp_capabilities' });
        } else if (stage === 'capabilities') {
          if (msg.error) return finish(new Error(`QMP qmp_capabilities: ${msg.error.desc}`));
          stage = 'command';
          send(args ? { execute, arguments: args } : { execute });
        } else if (stage === 'command') {
          if (msg.error) return finish(new Error(`QMP ${execute}: ${msg.error.class}: ${msg.error.desc}`));
          return finish(undefined, msg.return);
        }
      }
    });
  });
}
