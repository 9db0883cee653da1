export { pages } from '../../shared/kubernetes/listing.ts'
