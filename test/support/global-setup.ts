// Once before the suites: compile the reference app (about 0.2 s), so the end-to-end tests never run
// an older build of it than its sources. The package itself is built by `npm run build`.
// @ts-expect-error: a plain script of the repository, without types
import { buildApp } from '../../scripts/build-app.mjs';

export default async function setup(): Promise<void> {
  await buildApp();
}
