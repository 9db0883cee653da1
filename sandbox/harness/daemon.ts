// Tests start their servers the way Caretaker starts its own.
export { cleanUpAtExit, runCommand, startDaemon, type Daemon, type DaemonOptions } from '../../shared/process/daemon.ts'
