// The feed in Node: a session id your script logged in with, and a job it started.
import type { Job } from 'realtime-jobs';

declare const sessionId: string;
declare const job: Job;
