import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * An L2 segment for PXE-booting a qemu VM against servers in the host namespace:
 *
 *   host namespace                       namespace rgpx<id>
 *   rgpx<id> 10.214.<id>.1/24  ==veth==  up0 ─┐
 *   (the daemon's TFTP/HTTP listen here)       br0 10.214.<id>.2/24, fd21:4:<id>::2/64 (dnsmasq)
 *                                        tapN ─┘ (qemu's NIC, one per VM)
 *
 * Everything it starts (dnsmasq, qemu) is a child of this process that dies with it (pdeathsig);
 * what it makes in the kernel (namespace, links) is recorded under /var/tmp, and the next
 * createPxeNet of any test process removes the leftovers of nets whose owner process is gone.
 */
export interface PxeNet {
  id: number;
  /** Address on the host side: the daemon's TFTP and HTTP servers listen here (the VM reaches it on L2). */
  hostAddress: string;
  /** The address DHCP gives the VM. */
  vmAddress: string;
  /** The bridge's address inside the namespace (dnsmasq's server identifier). */
  bridgeAddress: string;
  netns: string;
  /** The host end of the veth pair (carries hostAddress). */
  hostLink: string;
  /** Work directory of this net (dnsmasq leases, VM disks); removed by stop(). */
  dir: string;
  /** Kills dnsmasq/qemu it started, deletes netns, veth, bridge, taps. Safe to call twice. */
  stop(): Promise<void>;
}

/** How the VM's firmware is told to boot. */
export type BootPath =
  /** iPXE firmware (user-class iPXE, option 175) is told to chain this HTTP URL. */
  | { kind: 'ipxe-http'; scriptUrl: string }
  /** next-server + bootfile (e.g. 'pxelinux.0') over TFTP. */
  | { kind: 'pxelinux-tftp'; tftpServer: string; bootfile: string };

export interface Dhcp {
  stop(): Promise<void>;
  /** The address the MAC given to startDhcp gets (net.vmAddress unless fixedAddress gave it another). */
  address?: string;
  /** dnsmasq's output so far (log-dhcp: every request, option and lease). */
  log(): string;
  /** Resolves with the log once `pattern` appears (e.g. /DHCPACK.* 10\.214\./); rejects after timeoutMs. */
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<string>;
}

export const PXE_PARENT = '/var/tmp';
export const PXE_PREFIX = 'rearguard-pxe-';
const RECORD = 'pxe-net.json';
const BRIDGE = 'br0';
const UPLINK = 'up0';
const PACKAGES = ['qemu-system-x86', 'ipxe-qemu', 'seabios', 'dnsmasq-base', 'iproute2', 'util-linux'];
const APT_INSTALL = resolve(import.meta.dirname, '../../scripts/apt-install.sh');
export const PXE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

const ip = (...args: string[]) => execa('ip', args, { env: PXE_ENV });

/** Stoppers of the processes and links started on each net, run by its stop(). */
const owned = new WeakMap<PxeNet, Set<() => Promise<void>>>();

/** Fixed DHCP addresses per net (MAC, lower case -> address), and its running dnsmasqs. */
const fixed = new WeakMap<PxeNet, Map<string, string>>();
const dhcpServers = new WeakMap<PxeNet, Set<NetChild>>();
const HOSTS_FILE = 'dhcp-hosts';

/**
 * The fixed address DHCP gives this MAC on this net, assigned on first ask: net.vmAddress for the
 * MAC given to startDhcp (unless it was asked for here before), .11, .12, … for the others (the
 * dynamic range is .100–.200). Written to the hosts file every dnsmasq of the net reads
 * (re-read on SIGHUP, sent here): it may be called before or after startDhcp.
 */
export async function fixedAddress(net: PxeNet, mac: string, prefer?: string): Promise<string> {
  const key = mac.toLowerCase();
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(key)) throw new Error(`not a MAC address: ${mac}`);
  let map = fixed.get(net);
  if (!map) fixed.set(net, (map = new Map()));
  const known = map.get(key);
  if (known) return known;
  const taken = new Set(map.values());
  const prefix = net.hostAddress.slice(0, net.hostAddress.lastIndexOf('.'));
  let address = prefer !== undefined && !taken.has(prefer) ? prefer : undefined;
  for (let host = 11; address === undefined && host < 100; host++) {
    if (!taken.has(`${prefix}.${host}`)) address = `${prefix}.${host}`;
  }
  if (address === undefined) throw new Error(`no fixed address left on ${net.netns}`);
  map.set(key, address);
  await writeHostsFile(net);
  for (const server of dhcpServers.get(net) ?? []) server.signal('SIGHUP');
  return address;
}

let hostsWrites = 0;

async function writeHostsFile(net: PxeNet): Promise<void> {
  const lines = [...(fixed.get(net) ?? new Map<string, string>())].map(([mac, address]) => `${mac},${address},1h\n`);
  const file = join(net.dir, HOSTS_FILE);
  // A name of its own per write: two fixedAddress calls at once must not rename each other's file.
  const tmp = `${file}.${++hostsWrites}.tmp`;
  await writeFile(tmp, lines.join(''));
  await rename(tmp, file);
}

/** Registers something to tear down with the net (before its namespace goes); returns the unregister function. */
export function ownedByNet(net: PxeNet, stop: () => Promise<void>): () => void {
  const set = owned.get(net);
  if (!set) throw new Error(`PXE net ${net.netns} is stopped`);
  set.add(stop);
  return () => set.delete(stop);
}

/**
 * Ids 1..250 from the pid and a counter, like lab-net.ts, so that parallel and consecutive test
 * processes do not collide. `ip netns add rgpx<id>` fails when the name exists: it is the lock
 * on the id (and thus on the subnet 10.214.<id>.0/24 and the host link rgpx<id>), released last.
 */
let counter = 0;

export async function createPxeNet(): Promise<PxeNet> {
  await execa(APT_INSTALL, PACKAGES, { stdin: 'ignore', env: PXE_ENV });
  await sweepStalePxeNets();
  const dir = await mkdtemp(join(PXE_PARENT, PXE_PREFIX));
  try {
    for (let attempt = 0; attempt < 250; attempt++) {
      const id = ((process.pid * 7 + counter++) % 250) + 1;
      const netns = `rgpx${id}`;
      const locked = await ip('netns', 'add', netns).then(
        () => true,
        (err: { stderr?: string }) => {
          if (/File exists/.test(err.stderr ?? '')) return false;
          throw err;
        },
      );
      if (!locked) continue;
      const hostLink = `rgpx${id}`;
      await writeFile(
        join(dir, RECORD),
        JSON.stringify({ pid: process.pid, start: await startTime(process.pid), netns, hostLink }),
      );
      return await populate(id, netns, hostLink, dir);
    }
    throw new Error('no free PXE network id (rgpx1..rgpx250 all exist)');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function populate(id: number, netns: string, hostLink: string, dir: string): Promise<PxeNet> {
  const prefix = `10.214.${id}`;
  const inNs = (...args: string[]) => ip('-n', netns, ...args);
  let stopping: Promise<void> | undefined;
  const net: PxeNet = {
    id,
    hostAddress: `${prefix}.1`,
    bridgeAddress: `${prefix}.2`,
    vmAddress: `${prefix}.10`,
    netns,
    hostLink,
    dir,
    stop: () => (stopping ??= teardown()),
  };
  owned.set(net, new Set());
  async function teardown(): Promise<void> {
    const stoppers = [...(owned.get(net) ?? [])];
    owned.delete(net);
    await Promise.allSettled(stoppers.map((s) => s()));
    await removePxeNet({ netns, hostLink });
    await rm(dir, { recursive: true, force: true });
  }

  try {
    // A host link of that name can only be a leftover: its netns (our lock) did not exist.
    await ip('link', 'del', hostLink).catch(() => undefined);
    await ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', UPLINK, 'netns', netns);
    // dnsmasq's router advertisements reach the host end too: without this the host would take
    // an address and a default IPv6 route via the namespace.
    await writeFile(`/proc/sys/net/ipv6/conf/${hostLink}/disable_ipv6`, '1').catch(() => undefined);
    await ip('addr', 'add', `${net.hostAddress}/24`, 'dev', hostLink);
    await ip('link', 'set', hostLink, 'up');
    await inNs('link', 'set', 'lo', 'up');
    await inNs('link', 'add', BRIDGE, 'type', 'bridge');
    await inNs('link', 'set', UPLINK, 'master', BRIDGE, 'up');
    await inNs('addr', 'add', `${net.bridgeAddress}/24`, 'dev', BRIDGE);
    // iPXE configures IPv6 alongside DHCPv4 and waits ~13 s more unless a router advertisement
    // answers: dnsmasq sends one (enable-ra) from this address; nodad: usable at once.
    await inNs('addr', 'add', `fd21:4:${id}::2/64`, 'dev', BRIDGE, 'nodad');
    await inNs('link', 'set', BRIDGE, 'up');
    return net;
  } catch (err) {
    await net.stop();
    throw err;
  }
}

/** Adds a tap for a VM to the net's bridge; the returned function removes it. */
export async function addTap(net: PxeNet, name: string): Promise<() => Promise<void>> {
  await ip('-n', net.netns, 'tuntap', 'add', 'dev', name, 'mode', 'tap');
  const remove = () =>
    ip('-n', net.netns, 'link', 'del', name).then(
      () => undefined,
      () => undefined,
    );
  try {
    await ip('-n', net.netns, 'link', 'set', name, 'master', BRIDGE, 'up');
  } catch (err) {
    await remove();
    throw err;
  }
  return remove;
}

/** Link first, namespace (the id's lock) last, so that no new owner of the id loses its link. */
async function removePxeNet(record: { netns: string; hostLink: string }): Promise<void> {
  await ip('link', 'del', record.hostLink).catch(() => undefined);
  await ip('netns', 'del', record.netns).catch(() => undefined);
}

interface PxeRecord {
  pid: number;
  start: string | undefined;
  netns: string;
  hostLink: string;
}

const CLAIM = '.swept-by-';

/**
 * Removes the namespaces and links of nets whose test process died without stop() (their dnsmasq
 * and qemu died with it: pdeathsig). A sweeper first claims a stale net by renaming its directory
 * (atomic: concurrent sweepers never both remove it, so never a newer net that reused the id).
 */
export async function sweepStalePxeNets(): Promise<void> {
  const entries = await readdir(PXE_PARENT).catch(() => [] as string[]);
  for (const name of entries.filter((e) => e.startsWith(PXE_PREFIX))) {
    const [base, claimer] = name.split(CLAIM) as [string, string | undefined];
    if (claimer !== undefined && alive(Number(claimer))) continue;
    const dir = join(PXE_PARENT, name);
    const record = await readFile(join(dir, RECORD), 'utf8').then(
      (text) => JSON.parse(text) as PxeRecord,
      () => undefined,
    );
    if (!record) {
      // Still starting (the record follows the lock within milliseconds), or its owner died
      // before locking anything: then only the directory is left.
      const age = await stat(dir).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (age > 10 * 60_000) await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (await owner(record)) continue;
    const claimed = join(PXE_PARENT, `${base}${CLAIM}${process.pid}`);
    if (
      !(await rename(dir, claimed).then(
        () => true,
        () => false,
      ))
    )
      continue;
    await removePxeNet(record);
    await rm(claimed, { recursive: true, force: true });
  }
}

/** Whether the process that made the record still runs (same pid and same start time: no pid reuse). */
async function owner(record: PxeRecord): Promise<boolean> {
  if (!alive(record.pid)) return false;
  const start = await startTime(record.pid);
  return record.start === undefined || start === undefined || start === record.start;
}

async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Field 22, counted after the parenthesised command name (field 2).
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface NetChild {
  /** stdout and stderr, as they came. */
  output(): string;
  /** Calls listener with each new chunk; returns the unsubscribe function. */
  onOutput(listener: (chunk: string, stream: 'stdout' | 'stderr') => void): () => void;
  exited: Promise<{ exitCode?: number; signal?: string }>;
  hasExited(): boolean;
  /** Sends a signal to the child (nothing once it exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after graceMs, and waits for the exit. Safe to call twice. */
  kill(graceMs?: number): Promise<void>;
}

/**
 * Runs a command inside the net's namespace as a direct child of this process (`ip netns exec`
 * and setpriv exec, they do not fork): pdeathsig KILLs it if this process dies, execa's cleanup
 * kills it on a normal exit, and stop() of the net kills it before the namespace goes.
 */
export function spawnInNet(net: PxeNet, argv: string[], opts: { maxOutput?: number } = {}): NetChild {
  const max = opts.maxOutput ?? 4 * 1024 * 1024;
  let killing: Promise<void> | undefined;
  const unregister = ownedByNet(net, () => kill());
  const child: ResultPromise = execa('ip', ['netns', 'exec', net.netns, 'setpriv', '--pdeathsig', 'KILL', ...argv], {
    stdin: 'ignore',
    buffer: false,
    reject: false,
    env: PXE_ENV,
    extendEnv: false,
  });
  let text = '';
  const listeners = new Set<(chunk: string, stream: 'stdout' | 'stderr') => void>();
  const append = (chunk: string, stream: 'stdout' | 'stderr') => {
    text += chunk;
    if (text.length > max) text = text.slice(text.length - max);
    for (const l of listeners) l(chunk, stream);
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const decoder = new StringDecoder('utf8');
    child[stream]?.on('data', (data: Buffer) => append(decoder.write(data), stream));
  }
  let done = false;
  const exited = child.then(
    (r) => {
      done = true;
      return { exitCode: r.exitCode, signal: r.signal };
    },
    (err: unknown) => {
      done = true;
      append(`\n${String(err)}\n`, 'stderr');
      return {};
    },
  );
  function kill(graceMs = 3000): Promise<void> {
    return (killing ??= (async () => {
      unregister();
      if (!done) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    })());
  }
  return {
    output: () => text,
    onOutput: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    exited,
    hasExited: () => done,
    signal: (sig) => {
      if (!done) child.kill(sig);
    },
    kill,
  };
}

/** Resolves once `test()` holds after output; rejects on timeout or when the child exits first. */
export function waitForOutput<T>(
  child: NetChild,
  test: () => T | undefined,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    let scheduled = false;
    const check = () => {
      scheduled = false;
      const found = test();
      if (found !== undefined) finish(() => resolvePromise(found));
    };
    let finished = false;
    const finish = (f: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      unsubscribe();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`))), timeoutMs);
    // Coalesce checks: console output comes in many small chunks.
    const unsubscribe = child.onOutput(() => {
      if (!scheduled && !finished) {
        scheduled = true;
        setTimeout(check, 20);
      }
    });
    void child.exited.then((r) => {
      // Whatever it printed last still counts.
      const found = test();
      if (found !== undefined) finish(() => resolvePromise(found));
      else finish(() => reject(new Error(`exited (code ${r.exitCode ?? '-'}, signal ${r.signal ?? '-'}): ${describe()}`)));
    });
    check();
  });
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * DHCP for the VM: dnsmasq inside the net's namespace, bound to its bridge, DHCP only (port=0:
 * no DNS; TFTP is off: the daemon serves TFTP/HTTP on hostAddress). The VM's MAC gets vmAddress;
 * every MAC given to fixedAddress (before or after) gets its own fixed address. Without `path`
 * no boot file is offered (VMs that boot from their disks only need addresses).
 */
export async function startDhcp(net: PxeNet, opts: { mac?: string; path?: BootPath }): Promise<Dhcp> {
  const address = opts.mac === undefined ? undefined : await fixedAddress(net, opts.mac, net.vmAddress);
  if (opts.mac === undefined) await writeHostsFile(net);
  const prefix = net.hostAddress.slice(0, net.hostAddress.lastIndexOf('.'));
  const boot =
    opts.path === undefined
      ? []
      : opts.path.kind === 'ipxe-http'
        ? // Only iPXE (it sends option 175) can fetch an HTTP URL; others get no boot file.
          ['--dhcp-match=set:ipxe,175', `--dhcp-boot=tag:ipxe,${opts.path.scriptUrl}`]
        : // file + siaddr (next-server); TFTP clients fetch the file from there.
          [`--dhcp-boot=${opts.path.bootfile},,${opts.path.tftpServer}`];
  const argv = [
    'dnsmasq',
    // No fork, no pid file, no user change (root keeps the lease file in our 0700 dir writable).
    '--no-daemon',
    '--log-facility=-',
    '--conf-file=/dev/null',
    '--port=0',
    '--no-resolv',
    '--no-hosts',
    `--interface=${BRIDGE}`,
    '--bind-interfaces',
    `--dhcp-leasefile=${join(net.dir, `dnsmasq-${Date.now()}.leases`)}`,
    '--dhcp-authoritative',
    '--log-dhcp',
    `--dhcp-range=${prefix}.100,${prefix}.200,255.255.255.0,1h`,
    // The fixed addresses (fixedAddress): re-read on SIGHUP.
    `--dhcp-hostsfile=${join(net.dir, HOSTS_FILE)}`,
    `--dhcp-option=option:router,${net.hostAddress}`,
    // iPXE option 175.176 no-pxedhcp: take the first DHCPOFFER instead of waiting for ProxyDHCP offers.
    '--dhcp-option=encap:175,176,1',
    ...boot,
    // Router advertisements (a prefix without the managed/other flags: SLAAC only) so that
    // iPXE's IPv6 autoconfiguration ends at once; router lifetime 0: nobody takes a default route.
    '--enable-ra',
    `--dhcp-range=::,constructor:${BRIDGE},ra-only`,
    `--ra-param=${BRIDGE},10,0`,
  ];
  const child = spawnInNet(net, argv);
  let servers = dhcpServers.get(net);
  if (!servers) dhcpServers.set(net, (servers = new Set()));
  servers.add(child);
  const stop = () => {
    servers.delete(child);
    return child.kill();
  };
  const describe = () => `dnsmasq in ${net.netns}:\n${tail(child.output())}`;
  try {
    // Its last start-up line, printed once the DHCP sockets are bound.
    await waitForOutput(child, () => /sockets bound exclusively/.test(child.output()) || undefined, 10_000, describe);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    stop,
    address,
    log: () => child.output(),
    waitForLog: (pattern, timeoutMs) => {
      const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      return waitForOutput(child, () => (re.test(child.output()) ? child.output() : undefined), timeoutMs, describe);
    },
  };
}
