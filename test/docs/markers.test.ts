// Every code block in README.md and docs/ says what it is (test/docs/markdown.ts), so a new block
// cannot slip in unchecked; docs.test.ts then runs or checks each one.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allBlocks, docFiles, parseBlocks, ROOT } from './markdown.js';
import { PROGRAMS } from './programs.js';

const blocks = allBlocks();
const where = (block: { file: string; line: number }) => `${block.file}:${block.line}`;

describe('docs code blocks', () => {
  it('each carries a doc-test marker', () => {
    expect(blocks.length).toBeGreaterThan(50);
    expect(
      blocks.filter((block) => block.badMarker).map((b) => `${where(b)}: <!-- doc-test: ${b.badMarker} -->`),
    ).toEqual([]);
    expect(blocks.filter((block) => !block.marker && !block.badMarker).map(where)).toEqual([]);
  });

  it('has no marker that stands before no block', () => {
    const stray: string[] = [];
    for (const file of docFiles()) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const markers = text.split('\n').filter((line) => line.includes('<!-- doc-test:')).length;
      const marked = parseBlocks(file, text).filter((block) => block.marker || block.badMarker).length;
      if (markers !== marked) stray.push(`${file}: ${markers} markers, ${marked} marked blocks`);
    }
    expect(stray).toEqual([]);
  });

  it('runs only JavaScript and TypeScript, each program with checks and in one language', () => {
    const programs = new Map<string, Set<string>>();
    for (const block of blocks) {
      if (block.marker?.kind !== 'run') continue;
      expect(['js', 'ts'], where(block)).toContain(block.lang);
      const langs = programs.get(block.marker.program) ?? new Set();
      programs.set(block.marker.program, langs.add(block.lang));
    }
    for (const [name, langs] of programs) expect(langs.size, name).toBe(1);
    expect([...programs.keys()].sort()).toEqual(Object.keys(PROGRAMS).sort());
  });

  it('type-checks code whose context exists, and calls only markup html', () => {
    for (const block of blocks) {
      if (block.marker?.kind === 'typecheck') {
        expect(['ts', 'tsx', 'js'], where(block)).toContain(block.lang);
        const { context } = block.marker;
        if (context)
          expect(existsSync(join(ROOT, 'test', 'docs', 'contexts', `${context}.${block.lang}`)), where(block)).toBe(
            true,
          );
      }
      if (block.marker?.kind === 'html') expect(block.lang, where(block)).toBe('html');
    }
  });
});
