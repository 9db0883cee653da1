import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import type { Certificate, CertificateRequest } from './certificates.ts'

/** cert-manager.io/v1 Certificates through the Kubernetes API: read, list page by page, annotate, update status; and their CertificateRequests. */

const CERTIFICATES = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const
const REQUESTS = { group: 'cert-manager.io', version: 'v1', plural: 'certificaterequests' } as const
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

interface CertificateList { items?: Certificate[]; metadata?: { continue?: string; _continue?: string } }

export class CertificateApi {
  readonly #api: CustomObjectsApi

  constructor(kubeConfig: KubeConfig) {
    this.#api = kubeConfig.makeApiClient(CustomObjectsApi)
  }

  /** The Certificate, or undefined when it is gone. */
  async read(namespace: string, name: string): Promise<Certificate | undefined> {
    try {
      return await this.#api.getNamespacedCustomObject({ ...CERTIFICATES, namespace, name }) as Certificate
    } catch (err) {
      const e = kubernetesError(err, `read Certificate ${namespace}/${name}`)
      if (e.details?.code === 404) return undefined
      throw e
    }
  }

  /** Every Certificate of the namespaces (all namespaces when none are given), one page at a time. */
  async *list(namespaces: readonly string[], pageSize: number): AsyncGenerator<Certificate> {
    const scopes: Array<string | undefined> = namespaces.length > 0 ? [...namespaces] : [undefined]
    for (const namespace of scopes) {
      let token: string | undefined
      do {
        let page: CertificateList
        try {
          const paging = { limit: pageSize, ...(token ? { _continue: token } : {}) }
          page = (namespace
            ? await this.#api.listNamespacedCustomObject({ ...CERTIFICATES, namespace, ...paging })
            : await this.#api.listClusterCustomObject({ ...CERTIFICATES, ...paging })) as CertificateList
        } catch (err) {
          throw kubernetesError(err, `list Certificates${namespace ? ` in ${namespace}` : ''}`)
        }
        for (const cert of page.items ?? []) yield cert
        token = page.metadata?.continue ?? page.metadata?._continue
      } while (token)
    }
  }

  /**
   * Sets (or, with null, removes) annotations. With a resourceVersion the
   * change is made only on that version of the object: 409 when it changed.
   */
  async annotate(cert: Certificate, annotations: Record<string, string | null>, resourceVersion?: string): Promise<Certificate> {
    const { namespace = '', name } = cert.metadata
    try {
      return await this.#api.patchNamespacedCustomObject({
        ...CERTIFICATES, namespace, name,
        body: { metadata: { annotations, ...(resourceVersion ? { resourceVersion } : {}) } },
      }, merge) as Certificate
    } catch (err) {
      throw kubernetesError(err, `annotate Certificate ${namespace}/${name}`)
    }
  }

  /** Writes the status subresource (`UpdateStatus`, as cmctl does): 409 when the object changed since it was read. */
  async updateStatus(cert: Certificate): Promise<Certificate> {
    const { namespace = '', name } = cert.metadata
    try {
      return await this.#api.replaceNamespacedCustomObjectStatus({ ...CERTIFICATES, namespace, name, body: cert }) as Certificate
    } catch (err) {
      throw kubernetesError(err, `update the status of Certificate ${namespace}/${name}`)
    }
  }

  /** The CertificateRequests of a namespace (a Certificate keeps only its last few: cert-manager's revisionHistoryLimit). */
  async requests(namespace: string, pageSize: number): Promise<CertificateRequest[]> {
    const out: CertificateRequest[] = []
    let token: string | undefined
    do {
      let page: { items?: CertificateRequest[]; metadata?: { continue?: string; _continue?: string } }
      try {
        page = await this.#api.listNamespacedCustomObject({ ...REQUESTS, namespace, limit: pageSize, ...(token ? { _continue: token } : {}) }) as typeof page
      } catch (err) {
        throw kubernetesError(err, `list CertificateRequests in ${namespace}`)
      }
      out.push(...(page.items ?? []))
      token = page.metadata?.continue ?? page.metadata?._continue
    } while (token)
    return out
  }

  /**
   * Deletes a CertificateRequest as it was read (its uid as a precondition),
   * so cert-manager's request manager makes a new one for the revision. A
   * request already gone counts as done.
   */
  async deleteRequest(request: CertificateRequest): Promise<void> {
    const { namespace = '', name, uid } = request.metadata
    try {
      await this.#api.deleteNamespacedCustomObject({ ...REQUESTS, namespace, name, body: { preconditions: { ...(uid ? { uid } : {}) } } })
    } catch (err) {
      const e = kubernetesError(err, `delete CertificateRequest ${namespace}/${name}`)
      if (e.details?.code === 404) return
      throw e
    }
  }
}
