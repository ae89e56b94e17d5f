// A page that loads the element: its module types `job-change` events and `<job-status>`.
import 'realtime-jobs/element';
