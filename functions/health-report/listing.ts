import { kubernetesError } from '../../shared/kubernetes/client.ts'

/**
 * Lists a large cluster page by page (`limit` and `continue`), handing out
 * one object at a time, so memory stays with one page whatever the size.
 */

interface Page<T> { items?: T[]; metadata?: { _continue?: string; continue?: string } }

export async function* pages<T>(what: string, pageSize: number, list: (opts: { limit: number; _continue?: string }) => Promise<Page<T>>): AsyncGenerator<T> {
  let token: string | undefined
  do {
    let page: Page<T>
    try {
      page = await list({ limit: pageSize, ...(token ? { _continue: token } : {}) })
    } catch (err) {
      throw kubernetesError(err, `list ${what}`)
    }
    for (const item of page.items ?? []) yield item
    token = page.metadata?._continue ?? page.metadata?.continue
  } while (token)
}
