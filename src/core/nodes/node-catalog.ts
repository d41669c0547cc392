import type { RecordsContext } from '../context.ts';
import type { NodeRecord } from '../ports.ts';

/** The nodes of every target, as recorded when runs start (name, address) and back up (MACs, Ironic UUID). */
export function listNodes(ctx: RecordsContext, filter: { target?: string }): NodeRecord[] {
  return ctx.records.nodes.list(filter);
}
