import { z } from 'zod';
import type { NodeIdentity } from '../ports.ts';

/** The `node` part of the manifest the backup playbook writes: the node as its own facts describe it. */
const nodeIdentitySchema = z.object({
  node: z.object({
    macs: z.array(z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i)),
    // "" when the inventory does not name the node's Ironic UUID.
    ironic_uuid: z.string().nullable().optional(),
  }),
});

/** The identity in a node's manifest.json, or null when the manifest carries none (older playbooks). */
export function parseNodeIdentity(manifestText: string): NodeIdentity | null {
  const parsed = nodeIdentitySchema.safeParse(JSON.parse(manifestText));
  if (!parsed.success) return null;
  return { macs: parsed.data.node.macs.map((m) => m.toLowerCase()), ironicUuid: parsed.data.node.ironic_uuid || null };
}
