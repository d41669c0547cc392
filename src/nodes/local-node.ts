import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { execa } from 'execa';
import type { NodeSession } from '../core/ports.ts';

/** The daemon's own host (`ansible_connection=local`): files are read directly, commands run in a shell. */
export function openLocalSession(): NodeSession {
  return {
    async exec(command) {
      const r = await execa('/bin/sh', ['-c', command], { reject: false, stdin: 'ignore' });
      return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode ?? 255 };
    },
    async readFile(path) {
      await access(path, constants.R_OK);
      return createReadStream(path, { highWaterMark: 1 << 20 });
    },
    close() {},
  };
}
