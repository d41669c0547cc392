import { execa } from 'execa';
import { join } from 'node:path';
import { addTap, ownedByNet, spawnInNet, tail, waitForOutput, type NetChild, type PxeNet } from './pxe-net.ts';

export interface PxeVm {
  /**
   * Everything the VM printed on its serial console so far, as a terminal would show it: escape
   * sequences removed, CR dropped, backspaces applied (the firmware draws with them).
   */
  console(): string;
  /** The bytes as they came (escape sequences and all). */
  rawConsole(): string;
  /**
   * Resolves with the console text once `pattern` appears; rejects after timeoutMs (or when qemu
   * exits first) with the console tail in the message.
   */
  waitForConsole(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves when qemu exits (the guest powered off, or rebooted: `-no-reboot`). */
  exited: Promise<{ exitCode?: number; signal?: string }>;
  /** The VM's blank disk (raw, sparse) when one was asked for; it survives stop() until the net's. */
  diskPath?: string;
  stop(): Promise<void>;
}

export interface PxeVmOptions {
  mac: string;
  /** Default 1024: a ReaR rescue initrd of 30–140 MB unpacks into RAM. */
  memoryMiB?: number;
  cpus?: number;
  /** Attach a blank sparse raw disk of this size (made in the net's directory). */
  diskMiB?: number;
  /** Bus of that disk: virtio (/dev/vda, default) or ide (/dev/sda). */
  diskInterface?: 'virtio' | 'ide';
  /** Each console chunk as it comes (raw), e.g. to tee it while debugging a test. */
  onConsole?: (chunk: string) => void;
}

let vmCounter = 0;

/**
 * A qemu VM (TCG: no KVM here, and `-accel kvm` hangs) that boots from its e1000 NIC with the
 * iPXE ROM of Debian's ipxe-qemu. `graphics=off` without a VGA makes SeaBIOS redirect the BIOS
 * text console to the serial port (sercon), so SeaBIOS, iPXE and pxelinux all print there; the
 * serial port is qemu's stdout.
 *
 * A pxelinux config with `SERIAL 0 …` also writes to that port itself: the two copies
 * interleave char by char unless the config says `CONSOLE 0` (or has no SERIAL line).
 */
export async function startPxeVm(net: PxeNet, opts: PxeVmOptions): Promise<PxeVm> {
  const n = vmCounter++;
  const tap = `tap${n}`;
  const removeTap = await addTap(net, tap);
  const unregisterTap = ownedByNet(net, removeTap);
  let diskPath: string | undefined;
  const disk: string[] = [];
  if (opts.diskMiB) {
    diskPath = join(net.dir, `vm${n}-disk.raw`);
    await execa('truncate', ['-s', `${opts.diskMiB}M`, diskPath]);
    disk.push('-drive', `file=${diskPath},format=raw,if=${opts.diskInterface ?? 'virtio'},cache=unsafe`);
  }
  const argv = [
    ...qemuMachine(tap, opts),
    '-device',
    `e1000,netdev=n0,mac=${opts.mac.toLowerCase()}`,
    ...disk,
    '-boot',
    'order=n',
    '-no-reboot',
  ];
  const vm = spawnQemu(net, argv, { remove: removeTap, unregister: unregisterTap }, opts.onConsole);
  const { qemu, screen } = vm;
  const describe = () => `VM ${opts.mac} ${vm.describe()}`;
  return {
    console: () => screen.text(),
    rawConsole: vm.raw,
    waitForConsole: (pattern, timeoutMs) => {
      const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      return waitForOutput(qemu, () => (re.test(screen.text()) ? screen.text() : undefined), timeoutMs, describe);
    },
    exited: qemu.exited,
    diskPath,
    stop: vm.stop,
  };
}

/**
 * A TCG machine (no KVM here) with `memoryMiB` (default 1024) and `cpus`, its serial port on
 * qemu's stdout, and netdev `n0` on the tap: what every lab VM starts with. graphics=off without
 * a VGA makes SeaBIOS (and so iPXE) print on the serial port.
 */
export const qemuMachine = (tap: string, opts: { memoryMiB?: number; cpus?: number }) => [
  'qemu-system-x86_64',
  '-nodefaults',
  '-machine',
  'pc,accel=tcg,graphics=off',
  '-cpu',
  'max',
  '-smp',
  String(opts.cpus ?? 1),
  '-m',
  String(opts.memoryMiB ?? 1024),
  '-display',
  'none',
  '-serial',
  'stdio',
  '-netdev',
  `tap,id=n0,ifname=${tap},script=no,downscript=no`,
];

/** A qemu started on a net: its serial console as text, its stop (qemu, then its tap), its state for error messages. */
export interface QemuProcess {
  qemu: NetChild;
  screen: Screen;
  raw(): string;
  /** "(stopped by stop())" when it was, the console tail, and qemu's own errors. */
  describe(): string;
  stop(): Promise<void>;
}

/** Spawns qemu (argv) in the net with its tap; on a spawn failure the tap is removed again. */
export function spawnQemu(
  net: PxeNet,
  argv: string[],
  tap: { remove: () => Promise<void>; unregister: () => void },
  onConsole?: (chunk: string) => void,
): QemuProcess {
  let qemu: NetChild;
  try {
    qemu = spawnInNet(net, argv, { maxOutput: 16 * 1024 * 1024 });
  } catch (err) {
    tap.unregister();
    void tap.remove();
    throw err;
  }
  // qemu writes only its own errors to stderr: keep them out of the console text.
  let raw = '';
  let stderr = '';
  const screen = new Screen();
  qemu.onOutput((chunk, stream) => {
    if (stream === 'stderr') {
      stderr += chunk;
      return;
    }
    raw += chunk;
    screen.write(chunk);
    onConsole?.(chunk);
  });
  let stopping: Promise<void> | undefined;
  return {
    qemu,
    screen,
    raw: () => raw,
    describe: () =>
      `${stopping ? '(stopped by stop()) ' : ''}console tail:\n${tail(screen.text())}${stderr ? `\nqemu stderr:\n${tail(stderr, 10)}` : ''}`,
    stop: () =>
      (stopping ??= (async () => {
        await qemu.kill();
        tap.unregister();
        await tap.remove();
      })()),
  };
}

/**
 * The serial stream as text: CSI/ESC sequences (colours, cursor moves, clear screen) dropped,
 * CR dropped, BS deletes the previous character of the line. Keeps an unfinished escape sequence
 * until the next chunk completes it.
 */
export class Screen {
  private done = '';
  private pending = '';

  write(chunk: string): void {
    let s = this.pending + chunk;
    this.pending = '';
    const partial = /\x1b(\[[0-9;?]*[ -/]*)?$/.exec(s);
    if (partial) {
      this.pending = partial[0];
      s = s.slice(0, partial.index);
    }
    s = s
      .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
      .replace(/\x1b[@-Z\\-_c]/g, '')
      .replace(/\r/g, '');
    let out = this.done;
    for (const part of s.split('\b').entries()) {
      const [i, text] = part;
      if (i > 0 && out.length > 0 && !out.endsWith('\n')) out = out.slice(0, -1);
      out += text;
    }
    this.done = out;
  }

  text(): string {
    return this.done;
  }
}
