-- Run params typed per kind: a backup's stopall 'yes'|'no' becomes stopAll, a restore's backup_id backupId.
UPDATE `runs` SET `params` = json_object('stopAll', json(CASE WHEN json_extract(`params`, '$.stopall') = 'yes' THEN 'true' ELSE 'false' END))
WHERE `kind` = 'backup' AND json_extract(`params`, '$.stopAll') IS NULL;
--> statement-breakpoint
UPDATE `runs` SET `params` = json_object('backupId', json_extract(`params`, '$.backup_id'), 'node', json_extract(`params`, '$.node'))
WHERE `kind` = 'restore' AND json_extract(`params`, '$.backupId') IS NULL;
