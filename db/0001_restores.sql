ALTER TABLE `restores` ADD `started_at` integer;--> statement-breakpoint
ALTER TABLE `restores` ADD `macs` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `restores` ADD `phases` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `restores` ADD `failed_phase` text;--> statement-breakpoint
ALTER TABLE `restores` ADD `updated_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `restores_node_created` ON `restores` (`node`,`created_at`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `restores_one_live_per_node` ON `restores` (`node`) WHERE state in ('queued', 'running');