CREATE TABLE `backups` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`location_url` text,
	`creation_date` integer NOT NULL,
	`target` text NOT NULL,
	`node` text NOT NULL,
	`run_id` text NOT NULL,
	`state` text NOT NULL,
	`size` integer,
	`sha256` text,
	`manifest` text,
	`error` text,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `backups_created` ON `backups` (`creation_date`,`id`);--> statement-breakpoint
CREATE INDEX `backups_target_created` ON `backups` (`target`,`creation_date`,`id`);--> statement-breakpoint
CREATE INDEX `backups_node_created` ON `backups` (`node`,`creation_date`,`id`);--> statement-breakpoint
CREATE INDEX `backups_state_created` ON `backups` (`state`,`creation_date`,`id`);--> statement-breakpoint
CREATE INDEX `backups_run` ON `backups` (`run_id`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`name` text PRIMARY KEY NOT NULL,
	`target` text NOT NULL,
	`address` text NOT NULL,
	`macs` text DEFAULT '[]' NOT NULL,
	`ironic_uuid` text,
	`host_key_sha256` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `restores` (
	`id` text PRIMARY KEY NOT NULL,
	`backup_id` text NOT NULL,
	`node` text NOT NULL,
	`run_id` text,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`finished_at` integer,
	`error` text,
	`requested_by` text,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `restores_backup` ON `restores` (`backup_id`,`state`);--> statement-breakpoint
CREATE INDEX `restores_created` ON `restores` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `run_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`at` integer NOT NULL,
	`level` text NOT NULL,
	`phase` text NOT NULL,
	`host` text,
	`message` text NOT NULL,
	`data` text,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `run_events_run` ON `run_events` (`run_id`,`seq`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`target` text NOT NULL,
	`params` text NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`error` text,
	`requested_by` text,
	`idempotency_key` text,
	`lease_owner` text,
	`lease_expires_at` integer,
	`quiesce_open` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX `runs_created` ON `runs` (`created_at`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `runs_one_live_per_target` ON `runs` (`target`) WHERE state in ('queued', 'running');--> statement-breakpoint
CREATE UNIQUE INDEX `runs_idempotency_key` ON `runs` (`idempotency_key`);