import type { CoreContext } from '../context.ts';

/** What changing a record's state needs: the records, the time, the run's journal, and who this daemon is. */
export type LifecycleContext = Pick<CoreContext, 'records' | 'clock' | 'journal' | 'instanceId' | 'leaseMs'>;
