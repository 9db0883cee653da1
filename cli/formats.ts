import { FORMATS, type BackupFormat } from '../functions/verify-backup/config.ts'

/** Formats a file can be checked as by `caretaker verify-backup`: every file format verify-backup knows (Longhorn backups live in a cluster). */
export const FILE_FORMATS = FORMATS.filter((f): f is Exclude<BackupFormat, 'longhorn'> => f !== 'longhorn')
export type FileFormat = (typeof FILE_FORMATS)[number]
