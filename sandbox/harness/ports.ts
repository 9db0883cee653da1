// Tests pick and probe ports the way Caretaker does.
export { acceptsConnections, freePort } from '../../shared/process/ports.ts'
