import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What a code block in the docs claims, from the HTML comment on the line before its fence (invisible
 * when rendered):
 *
 * - `<!-- doc-test: run NAME -->`: part of the program NAME; the blocks of one name join in page order
 *   into one file, which test/docs/programs.ts installs, starts and drives.
 * - `<!-- doc-test: typecheck -->`: a whole TypeScript module; `typecheck CONTEXT` for a fragment, checked
 *   after test/docs/contexts/CONTEXT.ts (or .js): the names the text around it says come from elsewhere;
 *   `typecheck as PATH` writes it to PATH, for other blocks to import.
 * - `<!-- doc-test: html -->`: markup; its `<job-status>` and `data-job-*` attributes must be ones the
 *   published element and controller read.
 * - `<!-- doc-test: skip WHY -->`: nothing to run here (a shell session, an nginx file, printed output).
 */
export type Marker =
  | { kind: 'run'; program: string }
  | { kind: 'typecheck'; context: string | null; as: string | null }
  | { kind: 'html' }
  | { kind: 'skip'; why: string };

export interface DocBlock {
  /** Repository-relative path of the Markdown file. */
  file: string;
  /** 1-based line of the block's first code line. */
  line: number;
  lang: string;
  code: string;
  marker: Marker | null;
  /** The marker's text when it is not one of the forms above. */
  badMarker: string | null;
}

const FENCE = /^(\s*)```(\S*)\s*$/;
const MARKER = /^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$/;

export function parseMarker(text: string): Marker | null {
  const [kind, ...rest] = text.split(/\s+/);
  if (kind === 'run' && rest.length === 1) return { kind, program: rest[0]! };
  if (kind === 'typecheck' && rest.length === 0) return { kind, context: null, as: null };
  if (kind === 'typecheck' && rest.length === 1) return { kind, context: rest[0]!, as: null };
  if (kind === 'typecheck' && rest.length === 2 && rest[0] === 'as') return { kind, context: null, as: rest[1]! };
  if (kind === 'html' && rest.length === 0) return { kind };
  if (kind === 'skip' && rest.length > 0) return { kind, why: rest.join(' ') };
  return null;
}

/** Every fenced block of one Markdown file, with the marker before it. */
export function parseBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
    if (end === lines.length) throw new Error(`${file}:${i + 1}: a code fence that never closes`);
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const comment = before >= 0 ? MARKER.exec(lines[before]!) : null;
    const marker = comment ? parseMarker(comment[1]!) : null;
    blocks.push({
      file,
      line: start + 1,
      lang: open[2]!,
      // Blocks inside list items are indented with their item; the code is not.
      code: lines
        .slice(start, end)
        .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
        .join('\n'),
      marker,
      badMarker: comment && !marker ? comment[1]! : null,
    });
    i = end;
  }
  return blocks;
}

/** README.md and every Markdown file under docs/ (not the generated API reference). */
export function docFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && relative(ROOT, path) !== join('docs', 'api')) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) files.push(relative(ROOT, path));
    }
  };
  walk(join(ROOT, 'docs'));
  return files.sort();
}

export function allBlocks(): DocBlock[] {
  return docFiles().flatMap((file) => parseBlocks(file, readFileSync(join(ROOT, file), 'utf8')));
}
