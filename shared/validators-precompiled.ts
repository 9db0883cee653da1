import type { ValidateFunction } from 'ajv'

/**
 * Validators made ahead of time, by key (shared/validators.ts). Empty in the
 * sources; `npm run build` replaces this module in each bundle with the ajv
 * standalone code of the function's config and event schemas.
 */
export const precompiledValidators: ReadonlyMap<string, ValidateFunction> = new Map()
