/**
 * Test-only crash points. With `CARETAKER_TEST_CRASH_AT=<point>` in its
 * environment, the process SIGKILLs itself when a rotation reaches that
 * point, so the kill tests (test/functions/rotate-secret/crash-*.test.ts) can
 * prove the journal's recovery from every step boundary of a real process.
 * Unset (always, outside those tests) it does nothing. The points are
 * `before:<step>` for generate, apply, verify, write, sync, restart and
 * retire; `write:data` (the new version written, its metadata not yet);
 * `apply:node-1` (a Redis target changed on its first node only);
 * `before:finish` (every step done, the journal not yet closed);
 * `before:release` (journal closed, Lease still held); `rollback:vault`
 * (a rollback restored Vault, not yet the target); and, inside the
 * recovery of a cut-off rotation (rotation.ts, recover), `recover:apply`
 * (rolling forward: the target holds the new value, Vault not yet written),
 * `recover:write` (Vault written, the Secrets not yet synced),
 * `recover:sync` (synced, the consumers not yet restarted) and
 * `recover:revert` (rolling back: the target has the old value back, the
 * journal not yet closed).
 */
export function crashPoint(point: string): void {
  if (process.env.CARETAKER_TEST_CRASH_AT === point) process.kill(process.pid, 'SIGKILL')
}
