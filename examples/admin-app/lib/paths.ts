import { fileURLToPath } from 'node:url';

/**
 * A path in the app's folder (`views`, `public/favicon.svg`), for any module, whichever folder it sits
 * in. Worked out here, from this module's own URL: it sits directly in lib/, and esbuild inlines it into
 * build/server.js, which also sits one folder below the app, so `..` is the app's folder from the
 * sources and from the bundle alike.
 */
export function appPath(path: string): string {
  return fileURLToPath(new URL(`../${path}`, import.meta.url));
}
