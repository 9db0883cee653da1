import { setSourceMapsSupport } from 'node:module'

// Loaded into every test process (tap's node-arg) and every Node process a
// test spawns (sandbox/harness/process.ts), after tap's own hooks: tap turns
// on source maps for every file (--enable-source-maps, and again in
// @tapjs/processinfo), node_modules included, and Node then reads and
// parses the source map of each dependency as it loads. Caretaker's sources
// are TypeScript with their types stripped in place (positions unchanged),
// so they have none; the dependencies' maps only made a process that loads
// the Kubernetes client take about a second more of CPU and 150 MB more of
// memory. Stack traces into the project's own files are unchanged. (tap's
// processinfo still looks for the dependencies' maps, which Node now never
// finds, each time a module with a map comment loads: about 0.1-0.3 s of a
// test process, against the 1-1.6 s the parsing took. Its exclusion list,
// which would spare node_modules, is set by the runner for every test.)
setSourceMapsSupport(true, { nodeModules: false, generatedCode: false })
