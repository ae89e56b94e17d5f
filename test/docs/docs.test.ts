// The docs' code, run for real: README.md and docs/**/*.md, as a user would paste them, against the
// packed package installed from its tarball. How blocks are marked: test/docs/markdown.ts.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { allBlocks, type DocBlock, ROOT } from './markdown.js';
import { PROGRAM_ENV, PROGRAMS, RunningProgram } from './programs.js';
import { createProject, PROJECTS, type ProjectKind, pack } from './projects.js';

const CONTEXTS = join(ROOT, 'test', 'docs', 'contexts');
const blocks = allBlocks();

/** Where each line of a generated file came from, to report a failure at its line in the docs. */
interface Segment {
  from: number;
  count: number;
  source: string;
  line: number;
}
interface Generated {
  path: string;
  text: string;
  segments: Segment[];
}

function generate(path: string, parts: Array<{ text: string; source: string; line: number }>): Generated {
  const segments: Segment[] = [];
  let from = 1;
  const texts: string[] = [];
  for (const part of parts) {
    const count = part.text.split('\n').length;
    segments.push({ from, count, source: part.source, line: part.line });
    texts.push(part.text);
    from += count;
  }
  return { path, text: texts.join('\n'), segments };
}

function origin(file: Generated, line: number): string {
  const segment = file.segments.find((s) => line >= s.from && line < s.from + s.count);
  return segment ? `${segment.source}:${segment.line + line - segment.from}` : `${file.path}:${line}`;
}

const EXTENSIONS: Record<string, string> = { ts: 'ts', tsx: 'tsx', js: 'js' };

/** Every file the type-check project holds: checked blocks (after their context) and TypeScript programs. */
function typecheckFiles(): Generated[] {
  const files: Generated[] = [];
  for (const block of blocks) {
    if (block.marker?.kind !== 'typecheck') continue;
    const ext = EXTENSIONS[block.lang];
    if (!ext) throw new Error(`${block.file}:${block.line}: cannot type-check a ${block.lang || 'plain'} block`);
    const parts = [];
    if (block.marker.context) {
      const context = join(CONTEXTS, `${block.marker.context}.${ext}`);
      parts.push({
        text: readFileSync(context, 'utf8'),
        source: `test/docs/contexts/${block.marker.context}.${ext}`,
        line: 1,
      });
    }
    parts.push({ text: block.code, source: block.file, line: block.line });
    const name = block.file.replace(/[^a-z0-9]+/gi, '-');
    files.push(generate(block.marker.as ?? `blocks/${name}-${block.line}.${ext}`, parts));
  }
  for (const [name, parts] of programSources()) {
    if (parts[0]!.lang === 'ts') files.push(generate(`blocks/program-${name}.ts`, parts.map(asPart)));
  }
  return files;
}

const asPart = (block: DocBlock) => ({ text: block.code, source: block.file, line: block.line });

/** Each program's blocks, in page order. */
function programSources(): Map<string, DocBlock[]> {
  const programs = new Map<string, DocBlock[]>();
  for (const block of blocks) {
    if (block.marker?.kind !== 'run') continue;
    const parts = programs.get(block.marker.program) ?? [];
    parts.push(block);
    programs.set(block.marker.program, parts);
  }
  return programs;
}

const run = promisify(execFile);

describe('the docs, run against the packed package', () => {
  const work = mkdtempSync(join(tmpdir(), 'realtime-jobs-docs-'));
  const project = (kind: ProjectKind) => join(work, kind);
  const running: RunningProgram[] = [];

  // One install per kind of project, all started at once; each test waits for the one it needs, so
  // programs run while the larger type-check project still installs.
  const installed = new Map<ProjectKind, Promise<string>>();
  const ready = (kind: ProjectKind) => installed.get(kind)!;

  let tarball = '';

  beforeAll(async () => {
    tarball = await pack(work);
    for (const kind of Object.keys(PROJECTS) as ProjectKind[]) {
      const install = createProject(project(kind), kind, tarball).then(() => project(kind));
      install.catch(() => {}); // reported by the tests that wait for it
      installed.set(kind, install);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(running.map((program) => program.stop().catch(() => {})));
    // DOCS_TEST_KEEP=1 keeps the projects, to look at what ran.
    if (process.env.DOCS_TEST_KEEP) console.log(`docs test projects kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  test.concurrent('the tarball holds every file package.json names, and packing builds first', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    // A fresh clone has no dist/: without this, `npm pack` and `npm publish` ship package.json alone.
    expect(pkg.scripts.prepack).toBe('npm run build');
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const packed = new Set(stdout.split('\n').map((line) => line.replace(/^package\//, '')));
    const named: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') named.push(value.replace(/^\.\//, ''));
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    collect([pkg.main, pkg.module, pkg.types, pkg.customElements, pkg.sideEffects, pkg.exports, pkg.typesVersions]);
    expect(named.length).toBeGreaterThan(50);
    expect(named.filter((file) => file !== 'package.json' && !packed.has(file))).toEqual([]);
  });

  test.concurrent('every TypeScript block type-checks against the published types', async () => {
    const dir = await ready('types');
    cpSync(join(ROOT, 'test', 'docs', 'project'), dir, { recursive: true });
    const files = typecheckFiles();
    for (const file of files) {
      mkdirSync(dirname(join(dir, file.path)), { recursive: true });
      writeFileSync(join(dir, file.path), file.text);
    }
    // The repository's tsc, on the project's node_modules: TypeScript blocks strict, JavaScript ones as
    // an editor checks them (tsconfig.js.json). Both at once.
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const check = (config: string) =>
      run(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: dir, maxBuffer: 1 << 24 }).then(
        () => '',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
    const output = (await Promise.all([check('tsconfig.json'), check('tsconfig.js.json')])).join('\n');
    // `blocks/x.ts(12,5): error TS2304: …` → the docs' line; a message's further lines stay as they are.
    const errors = output
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const match = /^(.+?)\((\d+),\d+\): (.*)$/.exec(line);
        const file = match && files.find((f) => f.path === match[1]);
        return file ? `${origin(file, Number(match[2]))}: ${match[3]}` : line;
      });
    expect(errors).toEqual([]);
    expect(files.length).toBeGreaterThan(20);
  }, 120_000);

  test.concurrent.each([...programSources().keys()])(
    'program %s runs as written',
    async (name) => {
      const program = PROGRAMS[name];
      if (!program) throw new Error(`no checks for the program "${name}" in test/docs/programs.ts`);
      const parts = programSources().get(name)!;
      const root = await ready(program.project);
      let code = parts.map((part) => part.code).join('\n\n');
      if (parts[0]!.lang === 'ts') code = transpile(code);
      // Its own folder (its data/ and lock), below the project so node_modules resolves.
      const dir = join(root, 'programs', name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ type: program.module === 'esm' ? 'module' : 'commonjs' }),
      );
      writeFileSync(join(dir, 'server.js'), code);
      const started = await RunningProgram.start(dir, 'server.js', PROGRAM_ENV);
      running.push(started);
      try {
        await program.check(started, root);
      } catch (error) {
        (error as Error).message += `\n--- output of ${name}:\n${started.output}`;
        throw error;
      }
    },
    120_000,
  );

  test('markup uses only attributes the published element and controller read, controls sit in forms', async () => {
    const dist = join(await ready('express'), 'node_modules', 'realtime-jobs', 'dist');
    const manifest = JSON.parse(readFileSync(join(dist, 'custom-elements.json'), 'utf8'));
    const elementAttributes = new Set<string>(
      manifest.modules
        .flatMap(
          (m: { declarations?: Array<{ tagName?: string; attributes?: Array<{ name: string }> }> }) =>
            m.declarations ?? [],
        )
        .filter((d: { tagName?: string }) => d.tagName === 'job-status')
        .flatMap((d: { attributes?: Array<{ name: string }> }) => (d.attributes ?? []).map((a) => a.name)),
    );
    const controlAttributes = new Set(
      readFileSync(join(dist, 'browser', 'realtime-jobs.js'), 'utf8').match(/data-job-[a-z-]+/g),
    );
    expect(elementAttributes.has('action')).toBe(true);
    expect(controlAttributes.has('data-job-control')).toBe(true);
    const unknown: string[] = [];
    for (const block of blocks.filter((b) => b.marker?.kind === 'html')) {
      for (const tag of block.code.matchAll(/<job-status\b([^>]*)>/g)) {
        for (const [, name] of tag[1]!.matchAll(/([a-z-]+)=/g)) {
          if (!elementAttributes.has(name!)) unknown.push(`${block.file}:${block.line}: <job-status ${name}>`);
        }
      }
      for (const [name] of block.code.matchAll(/data-job-[a-z-]+/g)) {
        if (!controlAttributes.has(name)) unknown.push(`${block.file}:${block.line}: ${name}`);
      }
      // The controller only locks a control: a button starts a job by posting its form to a route.
      for (const control of block.code.matchAll(/<button\b[^>]*data-job-control/g)) {
        const before = block.code.slice(0, control.index);
        const form = before.lastIndexOf('<form ');
        if (
          form < 0 ||
          before.lastIndexOf('</form>') > form ||
          !/^<form method="post" action="[^"]+"/.test(before.slice(form))
        ) {
          unknown.push(`${block.file}:${block.line}: a data-job-control button outside a form that posts`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });
});

/** TypeScript to the JavaScript a user's build would run: types go, nothing else changes. */
function transpile(code: string): string {
  return ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  }).outputText;
}
