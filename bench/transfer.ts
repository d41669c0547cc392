/**
 * The daemon's data path end to end: a 1 GiB artefact streamed from an sshd node through
 * transferArtefact (ssh-node.ts readFile -> sha256 -> storage.put) to (a) file:// storage and
 * (b) Swift through S3Storage (s3api), against the raw `ssh node cat file > /dev/null` rate and
 * `swift upload` of the same file, plus the daemon's peak RSS for a 100 MiB and a 1 GiB artefact
 * (medians of the repeats). Two more rates show where the time goes: the data path with a storage
 * that discards (ssh2 read + sha256 only), and OpenSSH writing the file durably
 * (`ssh node cat file > out && sync`), which is what file:// storage has to do.
 *
 *   node --import tsx bench/transfer.ts [size MiB, default 1024] [repeats, default 3]
 *
 * Targets (issue 4): node->file >= 0.9x raw ssh; node->Swift >= 1.0x swift upload; peak RSS of
 * the two sizes within 20 MB. Each transfer runs in a child process of its own, so that its peak
 * RSS is its own. Starts (and stops) its own lab node, Swift all-in-one and test files.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { transferArtefact } from '../src/core/backup/artefact-transfer.ts';
import type { Readable } from 'node:stream';
import type { Storage } from '../src/core/ports.ts';
import { openSshSession } from '../src/nodes/ssh-node.ts';
import { FileStorage } from '../src/storage/file-storage.ts';
import { S3Storage } from '../src/storage/s3-storage.ts';
import { startLab, type LabNode } from '../test/harness/lab.ts';
import { startSwift, type Swift } from '../test/harness/swift.ts';
import { AES, makeTestFile, median, MiB, rate, rawSsh } from './node-read.ts';

/** What a child process needs to run one transfer as the daemon does. */
interface Job {
  node: Pick<LabNode, 'name' | 'address' | 'sshPort' | 'user' | 'privateKeyFile'>;
  file: string;
  size: number;
  sha256: string;
  key: string;
  storage:
    | { file: string }
    | { s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string } }
    | { discard: true };
}

interface JobResult {
  mbs: number;
  maxRssMiB: number;
  /** CPU time of the daemon's process (all threads): the data path is CPU-bound on small machines. */
  cpuSeconds: number;
}

/** Child side: one transfer, then its rate and peak RSS as one JSON line. */
async function runJob(job: Job): Promise<void> {
  const storage: Storage =
    'discard' in job.storage
      ? discardStorage
      : 'file' in job.storage
        ? new FileStorage(`file://${job.storage.file}`)
        : new S3Storage({
            bucket: job.storage.s3.bucket,
            endpoint: job.storage.s3.endpoint,
            credentials: job.storage.s3,
            // The daemon's defaults (config.ts: storage.s3.partSizeMiB 8, queueSize 4).
            partSize: 8 * MiB,
            queueSize: 4,
          });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const session = await openSshSession(
    { ...job.node, port: job.node.sshPort, connection: 'ssh' },
    { get: () => null, pin: () => undefined },
  );
  try {
    await transferArtefact(
      session,
      storage,
      { path: job.file, name: 'artefact.bin', size: job.size, sha256: job.sha256 },
      job.key,
    );
  } finally {
    session.close();
  }
  const { user, system } = process.cpuUsage(cpu0);
  const result: JobResult = {
    mbs: rate(job.size, performance.now() - t0),
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (user + system) / 1e6,
  };
  console.log(JSON.stringify(result));
}

/** Takes every byte and keeps none: what the data path costs before any storage writes. */
const discardStorage = {
  async put(key: string, body: Readable) {
    let size = 0;
    for await (const chunk of body) size += (chunk as Buffer).length;
    return { key, size };
  },
} as unknown as Storage;

/** `ssh node cat file > out && sync`: OpenSSH writing the file durably, as file:// storage must. */
async function rawSshToFile(node: LabNode, file: string, size: number, out: string): Promise<number> {
  const ssh = [
    ...['ssh', '-i', node.privateKeyFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no'],
    ...['-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `root@${node.address}`, `cat ${file}`],
  ].join(' ');
  const t0 = performance.now();
  await execa('sh', ['-c', `${ssh} > ${out} && sync ${out}`]);
  const mbs = rate(size, performance.now() - t0);
  await rm(out);
  return mbs;
}

async function inChild(job: Job): Promise<JobResult> {
  // BENCH_PROFILE=<dir>: a V8 CPU profile of each transfer, for finding where the time goes.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  const args = [...profile, '--import', 'tsx', import.meta.filename, '--job', JSON.stringify(job)];
  const { stdout } = await execa(process.execPath, args);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as JobResult;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `swift upload` (python3-swiftclient) of the file, as an operator would; MB/s. */
async function swiftUpload(swift: Swift, file: string, size: number, object: string): Promise<number> {
  const t0 = performance.now();
  await execa('/usr/bin/python3', [
    '/usr/bin/swift',
    ...['-A', swift.authUrl, '-U', swift.swiftUser, '-K', swift.swiftKey],
    ...['upload', swift.bucketName, file, '--object-name', object],
  ]);
  const mbs = rate(size, performance.now() - t0);
  await swift.swiftRequest('DELETE', `${swift.bucketName}/${object}`);
  return mbs;
}

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const repeats = Number(process.argv[3] ?? 3);
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const lab = await startLab({ nodes: 1, withRoot: false });
    cleanups.push(() => lab.stop());
    const swift = await startSwift();
    cleanups.push(() => swift.stop());
    const big = await makeTestFile(sizeMiB);
    cleanups.push(() => rm(big.dir, { recursive: true, force: true }));
    const small = await makeTestFile(100);
    cleanups.push(() => rm(small.dir, { recursive: true, force: true }));
    const out = await mkdtemp('/var/tmp/rearguard-bench-store-');
    cleanups.push(() => rm(out, { recursive: true, force: true }));

    const node = lab.nodes[0]!;
    const s3 = { endpoint: swift.endpoint, bucket: swift.bucketName, ...swift.s3 };
    const jobNode = {
      name: node.name,
      address: node.address,
      sshPort: node.sshPort,
      user: node.user,
      privateKeyFile: node.privateKeyFile,
    };
    const shaBig = await sha256Of(big.file);
    const shaSmall = await sha256Of(small.file);
    let n = 0;
    const job = (f: typeof big, sha256: string, storage: Job['storage']): Job => ({
      node: jobNode,
      file: f.file,
      size: f.size,
      sha256,
      key: `bench/${n++}/artefact.bin`,
      storage,
    });
    const removeStored = (key: string) => swift.swiftRequest('DELETE', `${swift.bucketName}/${key}`);

    const samples = {
      raw: [] as number[],
      rawAes: [] as number[],
      rawToFile: [] as number[],
      discard: [] as number[],
      file: [] as number[],
      swiftUpload: [] as number[],
      swift: [] as number[],
    };
    const rss = { file: [] as number[], swift: [] as number[], smallFile: [] as number[], smallSwift: [] as number[] };
    const cpu = { file: [] as number[], swift: [] as number[] };
    console.log(`transfer of ${sizeMiB} MiB from a lab node, median of ${repeats} (MB/s = 10^6 bytes/s)`);
    // Round-robin, so that drifts of a shared machine hit every variant alike.
    for (let r = 0; r < repeats; r++) {
      samples.raw.push(await rawSsh(node, big.file, big.size));
      samples.rawAes.push(await rawSsh(node, big.file, big.size, AES));
      samples.rawToFile.push(await rawSshToFile(node, big.file, big.size, `${out}/raw.bin`));
      samples.discard.push((await inChild(job(big, shaBig, { discard: true }))).mbs);
      const toFile = job(big, shaBig, { file: out });
      const f = await inChild(toFile);
      await rm(`${out}/bench`, { recursive: true, force: true });
      samples.file.push(f.mbs);
      rss.file.push(f.maxRssMiB);
      cpu.file.push(f.cpuSeconds);
      samples.swiftUpload.push(await swiftUpload(swift, big.file, big.size, `bench/upload-${r}`));
      const toSwift = job(big, shaBig, { s3: s3 });
      const s = await inChild(toSwift);
      await removeStored(toSwift.key);
      samples.swift.push(s.mbs);
      rss.swift.push(s.maxRssMiB);
      cpu.swift.push(s.cpuSeconds);
      rss.smallFile.push((await inChild(job(small, shaSmall, { file: out }))).maxRssMiB);
      await rm(`${out}/bench`, { recursive: true, force: true });
      const smallSwiftJob = job(small, shaSmall, { s3 });
      rss.smallSwift.push((await inChild(smallSwiftJob)).maxRssMiB);
      await removeStored(smallSwiftJob.key);
    }

    const m = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)])) as Record<
      keyof typeof samples,
      number
    >;
    const line = (name: string, mbs: number, ratio: string) =>
      console.log(`${name.padEnd(44)} ${mbs.toFixed(0).padStart(5)} MB/s  ${ratio}`);
    line('raw ssh cat > /dev/null (chacha20, default)', m.raw, `all: ${fmt(samples.raw)}`);
    line('raw ssh -c aes128-gcm cat > /dev/null', m.rawAes, `all: ${fmt(samples.rawAes)}`);
    line(
      'ssh cat > file && sync (durable, as file://)',
      m.rawToFile,
      `${(m.rawToFile / m.raw).toFixed(2)}x raw ssh; all: ${fmt(samples.rawToFile)}`,
    );
    line('swift upload', m.swiftUpload, `all: ${fmt(samples.swiftUpload)}`);
    line(
      'node -> sha256 -> discard (no storage)',
      m.discard,
      `${(m.discard / m.raw).toFixed(2)}x raw ssh; all: ${fmt(samples.discard)}`,
    );
    line(
      'node -> file:// (transferArtefact)',
      m.file,
      `${(m.file / m.raw).toFixed(2)}x raw ssh (target 0.9), ${(m.file / m.rawToFile).toFixed(2)}x ssh > file && sync; all: ${fmt(samples.file)}`,
    );
    line(
      'node -> Swift s3api (transferArtefact)',
      m.swift,
      `${(m.swift / m.swiftUpload).toFixed(2)}x swift upload (target 1.0); all: ${fmt(samples.swift)}`,
    );
    console.log(`daemon CPU per transfer (s): file:// ${fmt2(cpu.file)}, Swift ${fmt2(cpu.swift)}`);
    const rssLine = (name: string, a: number, b: number) =>
      console.log(
        `peak RSS ${name.padEnd(8)} 100 MiB: ${a.toFixed(0)} MiB, ${sizeMiB} MiB: ${b.toFixed(0)} MiB, difference ${(b - a).toFixed(0)} MiB (target < 20 MB)`,
      );
    rssLine('file://', median(rss.smallFile), median(rss.file));
    rssLine('Swift', median(rss.smallSwift), median(rss.swift));
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => console.error(err));
  }
}

const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
const fmt2 = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const at = process.argv.indexOf('--job');
  if (at > 0) await runJob(JSON.parse(process.argv[at + 1]!) as Job);
  else await main();
}
