import { Command, CommanderError, Option } from 'commander';
import {
  parseCategory,
  parseExitCode,
  parseHeader,
  parseJobId,
  parseJobUrl,
  parseRoutesUrl,
  parseSeconds,
  parseTarget,
} from './args.js';
import { EXIT } from './exit-codes.js';
import type { Session } from './session.js';
import { type TailOptions, tail } from './tail.js';
import { type WaitOptions, wait } from './wait.js';

declare const __VERSION__: string | undefined;

const headerOption = () =>
  new Option('-H, --header <name: value>', 'send this header with every request (repeatable)')
    .argParser(parseHeader)
    .default([], 'none');
const pollOption = () =>
  new Option('--poll-interval <seconds>', 'how often to poll while the stream is down')
    .argParser(parseSeconds)
    .default(3000, '3');

/**
 * The `realtime-jobs` command line. `startSession` is called once a command runs (not for `--help`
 * or a usage error), so nothing is set up that would need undoing.
 */
export function buildProgram(startSession: () => Session): Command {
  const program = new Command('realtime-jobs')
    .description('Follow the jobs of a realtime-jobs server from a terminal or a script.')
    .version(typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program
    .command('tail')
    .description('show the jobs live: a table on a terminal, one line per change when piped')
    .argument('<url>', 'the job routes, e.g. http://localhost:3000/api/admin/jobs', parseRoutesUrl)
    .addOption(
      new Option('--category <name>', 'only this category (repeatable)').argParser(parseCategory).default([], 'any'),
    )
    .addOption(
      new Option('--target <field=value>', 'only this target value (repeatable)')
        .argParser(parseTarget)
        .default({}, 'any'),
    )
    .addOption(new Option('--job-id <id>', 'only this job (repeatable)').argParser(parseJobId).default([], 'any'))
    .addOption(headerOption())
    .option('--json', 'one JSON job per line (never a table)', false)
    .addOption(pollOption())
    .action((url: string, options: TailOptions) => tail(url, options, startSession()));

  program
    .command('wait')
    .description('follow one job to its end; exit 0 success, 1 error, 2 warning, 3 cancelled')
    .argument('<url>', "the job's URL, e.g. http://localhost:3000/api/admin/jobs/<id>", parseJobUrl)
    .addOption(headerOption())
    .option('--json', 'print the final job as JSON on stdout', false)
    .addOption(new Option('--timeout <seconds>', 'give up after this long (exit 124)').argParser(parseSeconds))
    .addOption(
      new Option('--connect-timeout <seconds>', 'give up when the server cannot be reached this long (exit 69)')
        .argParser(parseSeconds)
        .default(30_000, '30'),
    )
    .addOption(
      new Option('--pending-exit <code>', 'exit with this code when the job waits for an approval').argParser(
        parseExitCode,
      ),
    )
    .addOption(pollOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 1 error, 2 warning, 3 cancelled, 64 bad arguments, 66 no such job (404),\n' +
        '67 not logged in (401), 69 unreachable, 77 not allowed (403), 124 timeout, 130 Ctrl-C.',
    )
    .action((url: ReturnType<typeof parseJobUrl>, options: WaitOptions) => wait(url, options, startSession()));

  return program;
}

/** Runs the command line; usage errors exit 64 (commander has printed the message already). */
export async function run(argv: readonly string[], startSession: () => Session): Promise<void> {
  const program = buildProgram(startSession);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help and --version exit 0; anything else commander refused is a usage error.
    process.exit(error.exitCode === 0 ? EXIT.success : EXIT.usage);
  }
}
