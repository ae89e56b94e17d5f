// Reads a heap snapshot (`BENCH_HEAP_SNAPSHOT=<dir> node bench/fanout.js …`) and prints the objects
// that hold the most bytes, grouped by constructor name, with their count and bytes per stream.
// `node bench/heap-summary.js <file.heapsnapshot> <streams> [<baseline.heapsnapshot>]`
import { readFileSync } from 'node:fs';

function summarize(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snapshot.snapshot.meta;
  const width = fields.length;
  const at = (name) => fields.indexOf(name);
  const [type, name, size] = [at('type'), at('name'), at('self_size')];
  const groups = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const kind = types[snapshot.nodes[i + type]];
    const key = `${kind}:${kind === 'object' || kind === 'closure' || kind === 'native' ? snapshot.strings[snapshot.nodes[i + name]] : ''}`;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += snapshot.nodes[i + size];
    groups.set(key, group);
  }
  return groups;
}

const [file, streamsText, baselineFile] = process.argv.slice(2);
const streams = Number(streamsText);
const groups = summarize(file);
const baseline = baselineFile ? summarize(baselineFile) : new Map();
const rows = [...groups]
  .map(([key, { count, bytes }]) => {
    const base = baseline.get(key) ?? { count: 0, bytes: 0 };
    return { key, perStream: (count - base.count) / streams, bytesPerStream: (bytes - base.bytes) / streams };
  })
  .sort((a, b) => b.bytesPerStream - a.bytesPerStream)
  .slice(0, 30);
for (const row of rows) {
  console.log(`${row.bytesPerStream.toFixed(0).padStart(7)} B  ${row.perStream.toFixed(2).padStart(6)}×  ${row.key}`);
}
