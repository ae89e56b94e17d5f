import type { Request, Response } from 'express';
import { checkKey, DEDALUS_TARGET } from '../dedalus.js';
import { dedalusRuns } from '../logs.js';
import type { RouteContext } from './context.js';
import { busy, latest, working } from './job-state.js';
import { back, type FormErrors, formField, refuseForm, started } from './render.js';

/** The Dedalus page: save, verify and clear the API key, and the run log. */
export function dedalusRoutes({ app, db, jobs, dedalus, dedalusStandIn, render, renderFragment }: RouteContext): void {
  /** The Connection card's form: Verify needs a saved key, and is disabled (saying so) without one. */
  const verifyForm = () => {
    const verify = latest(jobs, 'dedalus-verify', DEDALUS_TARGET);
    return { settings: dedalus.state(), verify, verifyBusy: busy(verify) };
  };
  const dedalusPage = (req: Request, res: Response, status = 200, errors: FormErrors = {}) => {
    const save = latest(jobs, 'dedalus-save', DEDALUS_TARGET);
    // Under `npm start` the calls go to a local stand-in (server.ts says so): the page names it and
    // gives its demo key, which is no secret.
    const standIn = dedalusStandIn ? { key: dedalusStandIn.keys[0] ?? null } : null;
    const page = { baseURL: dedalus.baseURL, standIn, errors, save, saveBusy: busy(save), ...verifyForm() };
    render(req, res, 'dedalus', { ...page, refresh: working(save, page.verify) }, status);
  };
  app.get('/admin/dedalus', (req, res) => dedalusPage(req, res));
  app.get('/admin/dedalus/key-state', (req, res) =>
    renderFragment(req, res, 'dedalus-key', { settings: dedalus.state() }),
  );
  app.get('/admin/dedalus/verify-form', (req, res) => renderFragment(req, res, 'dedalus-verify', verifyForm()));
  app.post('/admin/dedalus/key', async (req, res) => {
    const field = formField(req, 'api_key');
    const apiKey = typeof field === 'string' ? field.trim() : '';
    // The page shows the problem, never the key: the field comes back empty.
    const refuse = (status: number, message: string) =>
      refuseForm(req, status, { api_key: message }, (code, errors) => dedalusPage(req, res, code, errors));
    const problem = checkKey(apiKey);
    if (problem) return refuse(400, problem);
    // The key is stored here and the job verifies it: a job's input is shown by the job API and kept
    // in its log, no place for a secret. One save at a time, so a job never verifies another's key.
    const asked = Date.now();
    if (busy(latest(jobs, 'dedalus-save', DEDALUS_TARGET))) {
      return refuse(409, 'A key is being saved and verified: wait for it to finish');
    }
    const maskedKey = dedalus.store(apiKey);
    const job = await jobs.run('dedalus-save', { maskedKey }, { key: 'default' });
    started(req, res, job, '/admin/dedalus', `Saved. The check of the key ${maskedKey}`, asked);
  });
  app.post('/admin/dedalus/key/clear', (req, res) => {
    dedalus.clear();
    back(req, res, '/admin/dedalus', 'The API key was removed.');
  });
  app.post('/admin/dedalus/verify', async (req, res) => {
    const asked = Date.now();
    const job = await jobs.run('dedalus-verify', {}, { key: 'default' });
    started(req, res, job, '/admin/dedalus', 'Connection check', asked);
  });
  app.get('/admin/dedalus/logs', (req, res) => render(req, res, 'dedalus-logs', { runs: dedalusRuns(db) }));
}
