import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/slowest-first.ts';

/**
 * Two projects that run side by side: `lab` (files named *.lab.test.ts: sshd nodes in network
 * namespaces, real ReaR, Swift, qemu) and `quick` (everything else). Every file makes its own
 * namespaces, subnets, ports and directories, so files run in parallel; `npm run test:quick` runs
 * the quick project alone.
 */
export default defineConfig({
  test: {
    // Each worker's lab work (rear, qemu under TCG, ansible) is mostly one core's; a third worker
    // fills the waits (VM boots, sleeps, ssh round trips) without starving the other two.
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 900_000,
    reporters: ['default'],
    sequence: { sequencer: SlowestFirst },
    projects: [
      { extends: true, test: { name: 'lab', include: ['test/**/*.lab.test.ts'] } },
      { extends: true, test: { name: 'quick', include: ['test/**/*.test.ts'], exclude: ['test/**/*.lab.test.ts'] } },
    ],
  },
});
