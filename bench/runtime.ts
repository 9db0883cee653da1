/**
 * The runtime's cost per event and at start, against two references run in
 * the same script: raw node:http (the floor: read the body, answer) and
 * faas-js-runtime (the Knative Functions Node.js runtime), each hosting a
 * no-op function in its own process, driven by the same load generator.
 * The cold start and memory of each function in functions/ are measured by
 * bench/functions.ts.
 *
 *   npm run bench -- runtime      (BENCH_SECONDS per run, default 4; BENCH_CONCURRENCY, default 32)
 *
 * BENCH_STDOUT=pipe gives each server a pipe for stdout, read by a `cat` into
 * /dev/null, as a container runtime reads a pod's log (by default stdout is
 * /dev/null, where a write costs next to nothing).
 *
 * BENCH_CPU_PROF=<dir> runs the Caretaker runtime with --cpu-prof, writing its
 * profile under load into <dir> when it exits (on the bench's SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { freePort } from '../shared/process/ports.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const CPU_PROF = process.env.BENCH_CPU_PROF
const STDOUT_PIPE = process.env.BENCH_STDOUT === 'pipe'

interface Server { name: string; child: ChildProcess; port: number; startedMs: number }

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/** CPU time (user + system) the process has used, in ms: /proc/<pid>/stat's utime and stime, in clock ticks of 10 ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

let seq = 0
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
function send(port: number, type = 'dev.knative.sources.ping'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/', agent,
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `bench-${process.pid}-${++seq}`, 'ce-source': '/bench', 'ce-type': type },
    }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end('{}')
  })
}

/** Spawn, then answer as soon as the server answers an event (the cold start). */
async function start(name: string, args: string[], env: Record<string, string>, port: number): Promise<Server & { coldMs: number }> {
  const startedMs = performance.now()
  const reader = STDOUT_PIPE ? spawn('cat', [], { stdio: ['pipe', 'ignore', 'inherit'] }) : undefined
  const child = spawn(process.execPath, args, { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env, PORT: String(port) }, stdio: ['ignore', reader ? reader.stdin! : 'ignore', 'inherit'] })
  // The reader ends when the server does (its write end closed): the bench's copy of the pipe is closed now.
  reader?.stdin!.destroy()
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`)
    try {
      const status = await send(port)
      if (status > 0 && status < 500) return { name, child, port, startedMs, coldMs: performance.now() - startedMs }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer within 60 s`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function stop(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.child.once('exit', () => resolve())
    server.child.kill('SIGTERM')
    setTimeout(() => server.child.kill('SIGKILL'), 10_000).unref()
  })
}

/**
 * The load, and what the server's process spent per event in the measured window: its CPU time divided by the
 * events answered. That figure depends far less on what else the machine runs than events/s does.
 */
async function load(port: number, pid: number): Promise<{ rps: number; p50: number; p99: number; errors: number; cpuUs: number }> {
  const latencies: number[] = []
  let errors = 0
  const warmUntil = performance.now() + 1000
  let cpuAtWarm = NaN
  setTimeout(() => { cpuAtWarm = cpuMs(pid) }, 1000)
  const until = warmUntil + SECONDS * 1000
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now()
      const status = await send(port).catch(() => 0)
      if (t0 >= warmUntil) {
        latencies.push(performance.now() - t0)
        if (status < 200 || status >= 300) errors++
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const cpuUs = ((cpuMs(pid) - cpuAtWarm) * 1000) / latencies.length
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), errors, cpuUs }
}

async function main(): Promise<void> {
  const runtimes: Array<{ name: string; args: string[]; env: Record<string, string> }> = [
    { name: 'raw node:http (floor)', args: ['bench/fixtures/raw-http.mjs'], env: {} },
    { name: 'faas-js-runtime 4', args: ['bench/fixtures/faas-noop.mjs'], env: {} },
    { name: 'Caretaker runtime', args: [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []), 'shared/runtime/main.ts', 'bench/fixtures/noop.ts'], env: { HOST: '127.0.0.1', CARETAKER_AUTH: 'none', LOG_LEVEL: 'info' } },
  ]
  const rows: string[] = []
  let floor: number | undefined
  let faas: number | undefined
  for (const r of runtimes) {
    const server = await start(r.name, r.args, r.env, await freePort())
    const rssStart = rssMiB(server.child.pid!, 'VmRSS')
    const result = await load(server.port, server.child.pid!)
    const rssPeak = rssMiB(server.child.pid!, 'VmHWM')
    await stop(server)
    floor ??= result.rps
    if (r.name.startsWith('faas')) faas = result.rps
    rows.push(`| ${r.name} | ${result.rps.toFixed(0)} | ${result.p50.toFixed(2)} ms | ${result.p99.toFixed(2)} ms | ${result.errors} | ${result.cpuUs.toFixed(0)} µs | ${server.coldMs.toFixed(0)} ms | ${rssStart.toFixed(0)} MiB | ${rssPeak.toFixed(0)} MiB | ${(result.rps / floor).toFixed(2)} | ${faas ? (result.rps / faas).toFixed(2) : '–'} |`)
  }
  const out = [
    `runtime: a no-op function, ${CONCURRENCY} concurrent keep-alive connections, ${SECONDS} s after 1 s of warm-up, each server in its own process (Caretaker logs one line per event at info, as deployed; stdout ${STDOUT_PIPE ? 'a pipe read by cat' : '/dev/null'})`,
    '',
    '| runtime | events/s | p50 | p99 | non-2xx | CPU per event | cold start | RSS after start | RSS peak | vs floor | vs faas-js-runtime |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ]
  process.stdout.write(out.join('\n'))

  agent.destroy()
}

await main()
