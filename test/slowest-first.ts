import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files run slowest first, so that the longest file starts at once and the other workers fill in
 * around it (longest-processing-time scheduling). A clean clone has no timing cache to sort by,
 * so the order comes from the measured costs in test/README.md; files not named here follow,
 * biggest first, as vitest would order them.
 */
const SLOWEST = [
  'test/integration/proven-restore.lab.test.ts',
  'test/integration/overcloud-backup.lab.test.ts',
  'test/integration/restore-pxe.lab.test.ts',
  'test/ansible/backup.lab.test.ts',
  'test/integration/backup-undercloud.lab.test.ts',
  'test/ansible/rolling.lab.test.ts',
  'test/integration/crash-soak.lab.test.ts',
];

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOWEST.findIndex((f) => spec.moduleId.endsWith(`/${f}`));
      return i === -1 ? SLOWEST.length : i;
    };
    return sorted
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.i - b.i)
      .map((x) => x.spec);
  }
}
