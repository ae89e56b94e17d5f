// The repository's docs stand alone: every link between them lands on a file and a heading that
// exist, and no doc, source, test or example cites a Markdown file that is not in the repository.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, normalize, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './markdown.js';

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\n')
  .filter((file) => file && existsSync(join(ROOT, file)));
const markdown = files.filter((file) => file.endsWith('.md') && !file.startsWith('docs/api/'));

/** GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

describe('the docs stand alone', () => {
  it('links between docs land on files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(join(ROOT, resolved))) {
          broken.push(`${file}: (${target}) → no ${resolved}`);
        } else if (anchor && resolved.endsWith('.md')) {
          if (!anchors(readFileSync(join(ROOT, resolved), 'utf8')).has(anchor))
            broken.push(`${file}: (${target}) → no heading`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('cites no Markdown file, and no folder beside the repository, that it does not hold', () => {
    const held = new Set(files.map((file) => basename(file)));
    const outside: string[] = [];
    const texts = files.filter((file) =>
      /^(README|CHANGELOG)\.md$|^(docs|src|test|examples|bench|scripts)\//.test(file),
    );
    for (const file of texts.filter((f) => /\.(md|ts|js|mjs|cjs|json|eta|sh)$/.test(f))) {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/https?:\/\/\S+/g, '');
      for (const [name] of text.matchAll(/\b[\w.-]+\.md\b/g)) {
        if (!held.has(name)) outside.push(`${file}: ${name}`);
      }
      // A relative path that climbs out of the repository (a sibling folder such as shared/).
      for (const [path] of text.matchAll(/(?:\.\.\/)+[\w.-]+/g)) {
        if (relative(ROOT, resolve(ROOT, dirname(file), path)).startsWith('..')) outside.push(`${file}: ${path}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
