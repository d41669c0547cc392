import { execa } from 'execa';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sshdConfig } from './lab-sshd.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface LabNode {
  /** Inventory host name, also the node's hostname (ReaR names its ISO rear-<name>.iso). */
  name: string;
  group: string;
  address: string;
  sshPort: number;
  user: 'root';
  privateKeyFile: string;
  netns: string;
  /** The node's filesystem tree on the host; the host's / for nodes without their own root. */
  root: string;
  /** The staging dir as the node sees it (pass as rearguard_staging_dir). */
  stagingDir: string;
  /** The same directory seen from the host. */
  stagingOnHost: string;
  /** Runs `sh -c cmd` inside the node: its network, and for own-root nodes its mounts, pids, chroot. */
  exec(cmd: string): Promise<ExecResult>;
  /** Kills sshd and every process of the node. */
  kill(): Promise<void>;
}

export interface NodeSpec {
  name: string;
  group: string;
  netns: string;
  address: string;
  /** The lab bridge's address, the node's default gateway. */
  hostAddress: string;
  /** Per-node directory on the host for keys, logs, the root tree and staging. */
  dir: string;
  clientKey: string;
  hostKey: string;
  /** Copied root tree, or undefined for a node that shares the host's filesystem. */
  root?: string;
  /** Where own-root nodes mount their staging dir. */
  stagingDir: string;
}

const NODE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
};

/**
 * Inside the node's new mount, uts and pid namespaces: make the tree a mount point (so ReaR sees
 * a real filesystem at /), give staging its own mount (ReaR refuses a file:// backup dir on the
 * '/' filesystem), mount the API filesystems, then become sshd as the namespace's PID 1 (it reaps
 * the orphans of daemonising services; its death kills everything in the node).
 */
const OWN_ROOT_INIT = `set -e
hostname "$1"
mount --bind "$2" "$2"
mkdir -p "$2$4"
mount --bind "$3" "$2$4"
mount -t proc proc "$2/proc"
mount -t sysfs sysfs "$2/sys"
mount --rbind /dev "$2/dev"
mount -t tmpfs -o mode=1777 tmpfs "$2/tmp"
mount -t tmpfs -o mode=755 tmpfs "$2/run"
mkdir -p "$2/run/sshd"
exec chroot "$2" /usr/sbin/sshd -D -f /etc/ssh/sshd_config.lab -E /var/log/sshd-lab.log`;

/**
 * Inside a shared-root node's mount namespace: hide the host's root shell setup, because sshd
 * runs every command through root's bash, which reads ~/.bashrc. A host's .bashrc can do anything
 * (pyenv's rehash waits 60 s on a lock a killed session left behind); a node starts clean.
 */
const SHARED_ROOT_INIT = `for f in /root/.bashrc /root/.bash_profile /root/.bash_login /root/.profile; do
  if [ -f "$f" ]; then mount --bind /dev/null "$f"; fi
done
exec /usr/sbin/sshd -D -f "$1" -E "$2"`;

export async function startNode(spec: NodeSpec): Promise<LabNode> {
  const { root } = spec;
  const stagingOnHost = join(spec.dir, 'staging');
  await mkdir(stagingOnHost, { recursive: true });
  const publicKey = await readFile(`${spec.clientKey}.pub`, 'utf8');

  // Every node gets its own pid namespace with sshd as PID 1 (it reaps the orphans of
  // daemonising services and ssh sessions): killing `unshare --kill-child` kills the whole node.
  let nodeCommand: string[];
  if (root) {
    await writeNodeIdentity(root, spec);
    await replaceFile(join(root, 'etc/ssh/ssh_host_ed25519_key'), await readFile(spec.hostKey, 'utf8'), 0o600);
    await replaceFile(join(root, 'root/.ssh/authorized_keys'), publicKey, 0o600);
    await replaceFile(
      join(root, 'etc/ssh/sshd_config.lab'),
      sshdConfig({
        address: spec.address,
        hostKey: '/etc/ssh/ssh_host_ed25519_key',
        authorizedKeys: '/root/.ssh/authorized_keys',
        pidFile: '/run/sshd.pid',
      }),
    );
    nodeCommand = [
      '--mount',
      '--uts',
      '--pid',
      '--fork',
      '--kill-child',
      'sh',
      '-c',
      OWN_ROOT_INIT,
      'init',
      spec.name,
      root,
      stagingOnHost,
      spec.stagingDir,
    ];
  } else {
    await mkdir('/run/sshd', { recursive: true });
    const authorizedKeys = join(spec.dir, 'authorized_keys');
    await writeFile(authorizedKeys, publicKey, { mode: 0o600 });
    const config = join(spec.dir, 'sshd_config');
    await writeFile(
      config,
      sshdConfig({ address: spec.address, hostKey: spec.hostKey, authorizedKeys, pidFile: join(spec.dir, 'sshd.pid') }),
    );
    // Its own /proc, so that ps and pgrep inside the node see the node's pid namespace.
    nodeCommand = [
      '--mount',
      '--pid',
      '--fork',
      '--mount-proc',
      '--kill-child',
      'sh',
      '-c',
      SHARED_ROOT_INIT,
      'init',
      config,
      join(spec.dir, 'sshd.log'),
    ];
  }
  // pdeathsig: if the test process dies without stop(), the node dies with it.
  const sshd = execa('ip', ['netns', 'exec', spec.netns, 'setpriv', '--pdeathsig', 'KILL', 'unshare', ...nodeCommand], {
    stdin: 'ignore',
    reject: false,
    env: NODE_ENV,
    extendEnv: false,
  });

  const exited = sshd.then((r) => r);
  let initPid: number | undefined;
  const kill = async () => {
    // unshare's death SIGKILLs the namespace's PID 1; the kernel then kills the rest of the
    // node, and PID 1 is gone (or a zombie) only once all of them are.
    sshd.kill('SIGKILL');
    await exited;
    if (initPid) await waitForExit(initPid);
  };
  try {
    await waitForPort(spec.address, 22, exited);
  } catch (err) {
    await kill();
    throw err;
  }

  initPid = await namespaceInit(sshd.pid!);
  // Own-root nodes: also their hostname and chroot.
  const target = ['-t', String(initPid), '-n', '-p', '-m'];
  const enter = root ? [...target, '-u', '-r', '-w'] : target;
  const exec = (cmd: string): Promise<ExecResult> =>
    execa('nsenter', [...enter, '--', '/bin/sh', '-c', cmd], {
      stdin: 'ignore',
      reject: false,
      env: NODE_ENV,
      extendEnv: false,
    }).then((r) => ({ stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 }));

  return {
    name: spec.name,
    group: spec.group,
    address: spec.address,
    sshPort: 22,
    user: 'root',
    privateKeyFile: spec.clientKey,
    netns: spec.netns,
    root: root ?? '/',
    stagingDir: root ? spec.stagingDir : stagingOnHost,
    stagingOnHost,
    exec,
    kill,
  };
}

/**
 * The node resolves its own name from /etc/hosts, and DNS goes to the bridge address where
 * nothing listens: lookups fail at once instead of timing out (ansible's fact gathering resolves
 * the fqdn: ~10 s per service task), and ReaR accepts it (it refuses a loopback nameserver).
 */
async function writeNodeIdentity(root: string, spec: NodeSpec): Promise<void> {
  await replaceFile(join(root, 'etc/hostname'), `${spec.name}\n`);
  await replaceFile(join(root, 'etc/hosts'), `127.0.0.1 localhost\n${spec.address} ${spec.name}\n`);
  await replaceFile(join(root, 'etc/resolv.conf'), `nameserver ${spec.hostAddress}\noptions timeout:1 attempts:1\n`);
}

/** Writes a file of the node's tree; unlinks first so that a symlink can never lead onto the host. */
async function replaceFile(path: string, content: string, mode = 0o644): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, content, { mode, flag: 'wx' });
}

/** The host pid of the node's PID 1: the child `unshare --fork` made. */
async function namespaceInit(unsharePid: number): Promise<number> {
  const children = await readFile(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8');
  const pid = Number(children.trim().split(/\s+/)[0]);
  if (!pid) throw new Error(`node init of unshare ${unsharePid} not found`);
  return pid;
}

async function waitForExit(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Field 3, after the parenthesised command name, is the state.
    if (!stat || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForPort(host: string, port: number, exited: Promise<unknown>): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (dead)
      throw new Error(`sshd on ${host} exited before listening: ${String(((await exited) as { stderr?: string }).stderr ?? '')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, timeout: 500 });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd on ${host}:${port} did not listen within 20 s`);
}
