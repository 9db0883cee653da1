import t from 'tap'

// The project targets Node 24 (the container's Node); npm scripts put the
// npm package's Node 24 first on PATH whatever the machine has.
t.equal(process.versions.node.split('.')[0], '24', 'tests run on Node 24')
