import type { Request, Response } from 'express';
import type { RouteContext } from './context.js';
import { back, type FormErrors, formField, refuseForm } from './render.js';

/** The records form as shown: the values typed, and each field's problem. */
interface RecordForm {
  values: { title: string; body: string };
  errors: FormErrors;
}

/** What is wrong with a new record, by field, or null. */
function recordProblems(title: string, body: string): FormErrors | null {
  const errors: FormErrors = {};
  if (title === '') errors.title = 'Enter a title.';
  else if (title.length > 200) errors.title = `A title has at most 200 characters; this one has ${title.length}.`;
  if (body.length > 2000) errors.body = `The text has at most 2000 characters; this one has ${body.length}.`;
  return Object.keys(errors).length > 0 ? errors : null;
}

/** The records page: the dataset that syncs, a form to add a record, and the signing switch. */
export function recordsRoutes({ app, sync, render }: RouteContext): void {
  const recordsPage = (
    req: Request,
    res: Response,
    status = 200,
    form: RecordForm = { values: { title: '', body: '' }, errors: {} },
  ) =>
    render(
      req,
      res,
      'records',
      { records: sync.records().slice(0, 100), count: sync.count(), signing: sync.signing(), ...form },
      status,
    );
  app.get('/admin/records', (req, res) => recordsPage(req, res));
  app.post('/admin/records', (req, res) => {
    const values = { title: String(formField(req, 'title') ?? ''), body: String(formField(req, 'body') ?? '') };
    const title = values.title.trim();
    const body = values.body.trim();
    const errors = recordProblems(title, body);
    if (errors) return refuseForm(req, 400, errors, (status) => recordsPage(req, res, status, { values, errors }));
    sync.addRecord(title, body || '(no text)');
    back(req, res, '/admin/records', `Added "${title}".`);
  });
  app.post('/admin/records/signing', (req, res) => {
    const on = formField(req, 'sign') === 'on';
    sync.setSigning(on);
    back(req, res, '/admin/records', on ? 'Outgoing bundles are signed.' : 'Outgoing bundles are now sent UNSIGNED.');
  });
}
