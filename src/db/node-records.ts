import { asc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Records } from '../core/ports.ts';
import type { Db } from './client.ts';
import { nodeLocks, nodes, restores, runs } from './schema.ts';

const nodeColumns = {
  name: nodes.name,
  target: nodes.target,
  address: nodes.address,
  macs: nodes.macs,
  ironicUuid: nodes.ironicUuid,
  updatedAt: nodes.updatedAt,
};

/** The nodes a live run holds (one run per node, whatever its kind). */
export const nodeLockRecords = (db: Db): Records['nodeLocks'] => ({
  heldAmong: (names) =>
    names.length === 0
      ? undefined
      : db
          .select({ node: nodeLocks.node, runId: nodeLocks.runId, kind: runs.kind, restoreId: restores.id })
          .from(nodeLocks)
          .innerJoin(runs, eq(runs.id, nodeLocks.runId))
          .leftJoin(restores, eq(restores.runId, nodeLocks.runId))
          .where(inArray(nodeLocks.node, names))
          .orderBy(asc(nodeLocks.node))
          .limit(1)
          .get(),
  take: (runId, names) => {
    if (names.length > 0)
      db.insert(nodeLocks)
        .values(names.map((node) => ({ node, runId })))
        .run();
  },
  release: (runId) => void db.delete(nodeLocks).where(eq(nodeLocks.runId, runId)).run(),
});

/** Nodes as the inventory and their own manifests describe them, with their pinned host keys. */
export const nodeRecords = (db: Db): Records['nodes'] => ({
  upsert: (node) => {
    const updatedAt = Date.now();
    db.insert(nodes)
      .values({ ...node, updatedAt })
      .onConflictDoUpdate({ target: nodes.name, set: { target: node.target, address: node.address, updatedAt } })
      .run();
  },
  hostKey: (name) => db.select({ k: nodes.hostKeySha256 }).from(nodes).where(eq(nodes.name, name)).get()?.k ?? null,
  pinHostKey: (name, sha256) => void db.update(nodes).set({ hostKeySha256: sha256 }).where(eq(nodes.name, name)).run(),
  setIdentity: (name, identity) => {
    const patch = {
      macs: identity.macs,
      updatedAt: Date.now(),
      ...(identity.ironicUuid ? { ironicUuid: identity.ironicUuid } : {}),
    };
    db.update(nodes).set(patch).where(eq(nodes.name, name)).run();
  },
  list: (filter) =>
    db
      .select(nodeColumns)
      .from(nodes)
      .where(filter.target ? eq(nodes.target, filter.target) : undefined)
      .orderBy(asc(nodes.name))
      .all(),
  find: (id) =>
    db
      .select(nodeColumns)
      .from(nodes)
      .where(or(eq(nodes.name, id), sql`lower(${nodes.ironicUuid}) = lower(${id})`))
      .orderBy(sql`${nodes.name} = ${id} desc`)
      .limit(1)
      .get(),
});
