#!/usr/bin/env node
// The `realtime-jobs` command (package.json `bin`): `tail` and `wait`, built on the client feed.
import { run } from './program.js';
import { startSession } from './session.js';

await run(process.argv, startSession);
