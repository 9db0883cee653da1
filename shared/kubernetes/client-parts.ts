/**
 * The parts of @kubernetes/client-node that Caretaker calls at run time,
 * and only those: the module shared/kubernetes/api.ts loads at the first API
 * call. Importing the package's whole namespace dynamically kept every API
 * class of it in the image's bundles (a bundler cannot tell which members of
 * a dynamically imported namespace are used); named re-exports let it leave
 * out the ones no function calls.
 */
export { AppsV1Api, AuthenticationV1Api, AuthorizationV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, VersionApi, setHeaderOptions } from '@kubernetes/client-node'
