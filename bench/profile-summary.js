// Reads a `.cpuprofile` (`BENCH_CPU_PROF=<dir> node bench/fanout.js …`) and prints the functions with
// the most self time, idle and GC apart, as shares of the busy samples.
// `node bench/profile-summary.js <file.cpuprofile> [top]`
import { readFileSync } from 'node:fs';

const [file, topText] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const frames = new Map();
let busy = 0;
for (const [id, count] of counts) {
  const { functionName, url, lineNumber } = byId.get(id).callFrame;
  if (functionName === '(idle)' || functionName === '(program)') continue;
  busy += count;
  const where = url
    ? `${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(dist|bench)\//, '$1/')}:${lineNumber + 1}`
    : '';
  const key = `${functionName || '(anonymous)'} ${where}`;
  frames.set(key, (frames.get(key) ?? 0) + count);
}
console.log(`${busy} busy samples`);
for (const [key, count] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, Number(topText ?? 25))) {
  console.log(`${((100 * count) / busy).toFixed(1).padStart(5)} %  ${key}`);
}
