import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/lab-root.sh', import.meta.url));

/**
 * Path of the cached Debian tree nodes are copied from; builds it on first use (~1.5 min with
 * debootstrap from the Debian archive), later calls return at once.
 */
export async function labRootCache(onLog?: (line: string) => void): Promise<string> {
  const child = execa(SCRIPT, { stdin: 'ignore', stderr: onLog ? 'pipe' : 'ignore' });
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) onLog?.(line);
  });
  const { stdout } = await child;
  return stdout.trim();
}

/**
 * A node's own copy of the tree. A real copy, not overlayfs: ReaR only archives filesystems it
 * can lay out, and on an overlay root its archive is empty. Not hardlinks either: an in-place
 * write in one node would corrupt the cache. --reflink=auto makes it instant on btrfs/xfs; on
 * this ext4 the 1.1 GB tree takes 2-19 s depending on the page cache.
 */
export async function copyRoot(cache: string, dest: string): Promise<void> {
  await execa('cp', ['-a', '--reflink=auto', cache, dest]);
}
