import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

const src = join(import.meta.dirname, '../../../src');
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

/**
 * The types keep `update` from setting a state (its patch omits `state`); this keeps the
 * compare-and-set, the one way left, inside the lifecycle (and the adapter that implements it).
 */
test('no code outside the run lifecycle changes a run, backup or restore state', () => {
  const writers = files(src)
    .filter((f) => f.endsWith('.ts'))
    .filter((f) => /\.transition\(/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(src, f))
    .sort();
  expect(writers).toEqual(['core/runs/backup-lifecycle.ts', 'core/runs/run-lifecycle.ts']);
});
