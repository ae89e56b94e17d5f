// A page that loads the list element: its module types `job-action` events and `<job-list>`.
import 'realtime-jobs/job-list';
