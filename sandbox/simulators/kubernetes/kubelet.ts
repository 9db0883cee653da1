// A stand-in for the kubelet, for the Jobs Caretaker creates to run PostgreSQL
// work (verify-backup's restore test): opt-in (ControllerOptions.kubelet). A Job
// whose container image is `postgres:<major>` (any registry, any suffix) gets a
// Pod that really runs: its command, on this machine, with the PostgreSQL
// programs of that major (/usr/lib/postgresql/<major>/bin) first on PATH. When
// that major is not installed here the image "cannot be pulled": the Pod fails
// with ErrImagePull and says so, and the Job fails at once. (A real kubelet
// keeps retrying the pull, ImagePullBackOff, until the Job's
// activeDeadlineSeconds ends it with DeadlineExceeded and its Pod is deleted;
// the stand-in does not make a test wait for that.) Other Jobs keep the Job controller stand-in's
// plain completion.
//
// There is no mount namespace: each volumeMount's mountPath is mapped to a host
// directory (a PVC by claim name through `volumes`, an emptyDir to a temporary
// one) in the environment values that name a path under it, and the container's
// terminationMessagePath to a host file. The kubelet reads that file when the
// container ends, at most 4096 bytes of it, into
// status.containerStatuses[].state.terminated.message (kubernetes.io/docs/tasks/
// debug/debug-application/determine-reason-pod-failure; kubernetes/kubernetes
// pkg/kubelet/kuberuntime/kuberuntime_container.go, maxContainerTerminationMessageLength).
// The Job's activeDeadlineSeconds is enforced: the run is killed and the Job
// fails with DeadlineExceeded, as the Job controller does.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants } from 'node:fs'
import { chmod, chown, mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Rec = Record<string, unknown>
type Obj = Rec & { metadata?: Rec }

export interface KubeletOptions {
  /** PersistentVolumeClaim name → the host directory that stands for its volume. */
  volumes?: Record<string, string>
  /** Where PostgreSQL majors are installed: `<root>/<major>/bin` (default /usr/lib/postgresql). */
  postgresRoot?: string
  /** Only Jobs carrying this label (any value) are run; others keep the plain Job stand-in. Default: every postgres-image Job. */
  label?: string
}

/** Whether the stand-in runs this Job: a postgres:<major> image, and the label when one is asked for. */
export function kubeletRuns(job: Obj, options: KubeletOptions): boolean {
  const template = ((job.spec as Rec | undefined)?.template ?? {}) as Rec
  const image = ((((template.spec as Rec | undefined)?.containers ?? []) as Rec[])[0]?.image)
  if (typeof image !== 'string' || !postgresImageMajor(image)) return false
  return options.label === undefined || Object.hasOwn(((job.metadata?.labels ?? {}) as Rec), options.label)
}

const TERMINATION_MESSAGE_MAX = 4096
const DEFAULT_TERMINATION_PATH = '/dev/termination-log'

/** The PostgreSQL major of a `postgres:<major>` image (`docker.io/library/postgres:16`, `postgres:9.6-alpine`), if it is one. */
export function postgresImageMajor(image: string): string | undefined {
  const m = /(?:^|\/)postgres:(\d+(?:\.\d+)?)(?:[-@].*)?$/.exec(image)
  if (!m) return undefined
  const major = m[1]!
  // 16.4 names a minor of 16; before 10, 9.6 is the major itself.
  return Number(major.split('.')[0]) >= 10 ? major.split('.')[0] : major
}

function executable(path: string): boolean {
  try { accessSync(path, constants.X_OK); return true } catch { return false }
}

/** PostgreSQL refuses root; as root the command runs as the postgres system user (the image's uid 999 stands for it). */
function runAs(): { uid: number, gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  }
}

export interface PodRun {
  /** The terminated (or waiting) container state, and whether the Pod succeeded. */
  readonly phase: 'Succeeded' | 'Failed'
  readonly state: Rec
  /** The Job's own failure, when the Job controller ends it (DeadlineExceeded). */
  readonly jobFailure?: { reason: string, message: string }
}

/** Runs the Job's single container as the kubelet would, on this machine. */
export async function runPostgresContainer(job: Obj, options: KubeletOptions): Promise<PodRun> {
  const podSpec = (((job.spec as Rec).template as Rec).spec ?? {}) as Rec
  const container = ((podSpec.containers ?? []) as Rec[])[0] ?? {}
  const image = String(container.image ?? '')
  const major = postgresImageMajor(image)!
  const binDir = join(options.postgresRoot ?? '/usr/lib/postgresql', major, 'bin')
  if (!executable(join(binDir, 'initdb'))) {
    return {
      phase: 'Failed',
      state: { waiting: { reason: 'ErrImagePull', message: `image ${image} is not available here: no PostgreSQL ${major} at ${binDir}` } },
    }
  }
  const user = runAs()
  const root = await mkdtemp(join(tmpdir(), 'caretaker-kubelet-'))
  try {
    await chmod(root, 0o755)
    const hostPaths = new Map<string, string>()
    for (const v of (podSpec.volumes ?? []) as Rec[]) {
      const name = String(v.name)
      const claim = (v.persistentVolumeClaim as Rec | undefined)?.claimName
      if (claim !== undefined) {
        const dir = options.volumes?.[String(claim)]
        if (!dir) return { phase: 'Failed', state: { waiting: { reason: 'ContainerCreating', message: `persistentvolumeclaim "${String(claim)}" not found` } } }
        hostPaths.set(name, dir)
      } else {
        const dir = join(root, 'volumes', name)
        await mkdir(dir, { recursive: true })
        if (user) await chown(dir, user.uid, user.gid)
        hostPaths.set(name, dir)
      }
    }
    const mounts = ((container.volumeMounts ?? []) as Rec[]).map((m) => ({ path: String(m.mountPath).replace(/\/+$/, ''), host: hostPaths.get(String(m.name))! }))
    const terminationPath = String(container.terminationMessagePath ?? DEFAULT_TERMINATION_PATH)
    const terminationHost = join(root, 'termination-log')
    await (await open(terminationHost, 'w', 0o666)).close()
    if (user) await chown(terminationHost, user.uid, user.gid)
    const mapPath = (value: string): string => {
      if (value === terminationPath) return terminationHost
      const m = mounts.find((x) => value === x.path || value.startsWith(`${x.path}/`))
      return m ? m.host + value.slice(m.path.length) : value
    }
    const env: Record<string, string> = { PATH: `${binDir}:/usr/local/bin:/usr/bin:/bin`, HOME: root, LC_ALL: 'C' }
    for (const e of (container.env ?? []) as Rec[]) env[String(e.name)] = mapPath(String(e.value ?? ''))
    const argv = [...((container.command ?? []) as string[]), ...((container.args ?? []) as string[])]
    const startedAt = new Date().toISOString()
    const deadlineSeconds = Number((job.spec as Rec).activeDeadlineSeconds ?? 0)
    const child = spawn(argv[0]!, argv.slice(1), { cwd: root, env, stdio: 'ignore', ...(user ?? {}) })
    let timedOut = false
    const timer = deadlineSeconds > 0 ? setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, deadlineSeconds * 1000) : undefined
    const exitCode = await new Promise<number>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)))
      child.on('error', () => resolve(127))
    })
    clearTimeout(timer)
    const handle = await open(terminationHost, 'r')
    const buf = Buffer.alloc(TERMINATION_MESSAGE_MAX)
    const { bytesRead } = await handle.read(buf, 0, TERMINATION_MESSAGE_MAX, 0)
    await handle.close()
    const message = buf.subarray(0, bytesRead).toString('utf8')
    const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date().toISOString(), ...(message ? { message } : {}) }
    return {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      state: { terminated },
      ...(timedOut ? { jobFailure: { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' } } : {}),
    }
  } finally {
    await rm(root, { recursive: true, force: true }).catch(() => undefined)
  }
}

/** A name suffix as the Job controller's generateName gives one. */
export function podSuffix(): string {
  const SAFE = 'bcdfghjklmnpqrstvwxz2456789'
  return [...randomBytes(5)].map((b) => SAFE[b % SAFE.length]).join('')
}
