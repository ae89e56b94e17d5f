// The smallest useful realtime-jobs page on Fastify: one button starts a job, one tile shows it live.
//   npx tsup && node examples/fastify-minimal/server.js   → http://127.0.0.1:3002
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { createJobRegistry, isBusy } from 'realtime-jobs';
import { jobsPlugin } from 'realtime-jobs/fastify';
import { renderJobStatus, renderJobStatusStyles } from 'realtime-jobs/html';

const port = Number(process.env.PORT || 3002);
const stepMs = Number(process.env.STEP_MS || 1000); // how long each of the demo job's five steps takes
const jobs = await createJobRegistry(); // in memory; pass jsonlStore({ path }) to keep history
const app = Fastify({ logger: false });

// Stands in for your session check: this demo trusts only the machine it runs on.
const authorize = (request) =>
  ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(request.ip) ? { id: 'local', scopes: ['admin'] } : null;
await app.register(jobsPlugin, { registry: jobs, prefix: '/api/admin/jobs', authorize });

const bundle = fileURLToPath(new URL('./browser/realtime-jobs.js', import.meta.resolve('realtime-jobs')));
app.get('/assets/realtime-jobs.js', async (_request, reply) =>
  reply.type('text/javascript; charset=utf-8').send(await readFile(bundle)),
);

app.get('/', async (request, reply) => {
  if (!authorize(request)) return reply.code(403).send('This demo answers on loopback only.');
  const job = jobs.list({ category: ['demo-export'], limit: 1 })[0] ?? null;
  const tile = renderJobStatus(job, {
    label: 'Export',
    description: 'A demo job in five steps',
    action: 'demo-export',
    emptyMessage: 'Not run yet.',
    styles: false,
  });
  reply.type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>realtime-jobs on Fastify</title>
<meta name="realtime-jobs-endpoint" content="/api/admin/jobs">
${renderJobStatusStyles()}
<script type="module" src="/assets/realtime-jobs.js"></script>
<style>body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; } form { margin-bottom: 1rem; }</style></head>
<body><h1>realtime-jobs on Fastify</h1>
<form method="post" action="/export">
  <button data-job-control data-job-action="demo-export" ${job && isBusy(job.state) ? 'disabled' : ''}>Start export</button>
</form>
${tile}</body></html>`);
});

// A form post carries no body this route needs; parsing it keeps Fastify from answering 415.
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, _body, done) =>
  done(null, {}),
);
app.post('/export', async (request, reply) => {
  // A cross-site form cannot start jobs here: browsers say where a request comes from.
  if (!authorize(request) || request.headers['sec-fetch-site'] === 'cross-site') return reply.code(403).send();
  await jobs.run({ category: 'demo-export', key: 'demo' }, async (ctx) => {
    for (let step = 1; step <= 5; step++) {
      ctx.progress((step - 1) / 5, { phase: 'exporting', message: `Step ${step} of 5…` });
      await new Promise((resolve) => setTimeout(resolve, stepMs));
      if (ctx.signal.aborted) return;
    }
    ctx.update({ message: 'Exported 5 of 5 steps.' });
  });
  return reply.redirect('/', 303); // a second click while it runs finds the same job (`key`)
});

await app.listen({ port, host: '127.0.0.1' });
console.log(`realtime-jobs on Fastify: http://127.0.0.1:${port}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await app.close(); // the plugin ends its open streams on close
    await jobs.close();
    process.exit(0);
  });
}
