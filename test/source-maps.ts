import { setSourceMapsSupport } from 'node:module'

// Loaded into every test process (tap's node-arg) and every Node process a
// test spawns (sandbox/harness/process.ts), after tap's own hooks: tap turns
// on source maps for every file (--enable-source-maps, and again in
// @tapjs/processinfo), node_modules included, and Node then reads and
// parses the source map of each dependency as it loads. Caretaker's sources
// are TypeScript with their types stripped in place (positions unchanged),
// so they have none; the dependencies' maps only made a process that loads
// the Kubernetes client take about a second more of CPU and 150 MB more of
// memory. Stack traces into the project's own files are unchanged.
setSourceMapsSupport(true, { nodeModules: false, generatedCode: false })
