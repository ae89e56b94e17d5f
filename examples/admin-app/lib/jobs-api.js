// The job routes, through the package's Express adapter when it is built, else its Node bridge.
const express = await import('realtime-jobs/express').catch(() => null);
const { createJobsEndpoint } = await import('realtime-jobs');
const { toNodeHandler } = await import('realtime-jobs/node');

export function jobsApi(jobs, options) {
  if (express) return express.jobsRouter(jobs, options);
  const handle = toNodeHandler(createJobsEndpoint(jobs, options));
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    handle(req, res, req).catch(next);
  };
}
