import type { Command } from 'commander';
import { prepare } from '../api/prepare.js';
import { TOKENIZER_CHOICES } from '../config/tokenizers.js';
import { tokenizerName } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { createProgress, megabytes } from './progress.js';
import { action } from './run.js';

interface PrepareFlags {
  corpus: string[];
  valCorpus?: string[];
  tokenizer: string;
  valFraction: string;
  out?: string;
  textField: string;
  onBadFile: string;
  force?: boolean;
}

export function prepareCommand(program: Command): void {
  program
    .command('prepare')
    .description('tokenise text corpora into train/validation token shards')
    .requiredOption(
      '-c, --corpus <source...>',
      'text file, folder, .jsonl or .parquet file (text and .jsonl may be .gz), or built-in corpus (brown, ' +
        'nlp-corpus); repeatable',
    )
    .option('-t, --tokenizer <name>', `one of ${TOKENIZER_CHOICES}`, 'gpt2')
    .option('--val-fraction <f>', 'fraction of the text kept for validation', '0.05')
    .option(
      '--val-corpus <source...>',
      "validation text instead of a held-out fraction (a held-out file, a benchmark's validation set)",
    )
    .option('-o, --out <dir>', 'dataset directory (default: data/<corpus>-<tokenizer>-<hash>)')
    .option('--text-field <name>', 'field holding the text in .jsonl records, column in .parquet files', 'text')
    .option('--on-bad-file <what>', 'binary or non-UTF-8 file: skip (with a warning) or stop', 'skip')
    .option('--force', 'rebuild even if an identical dataset exists')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ difft prepare --corpus brown --tokenizer gpt2',
        '  $ difft prepare --corpus notes/ book.txt --tokenizer byte --val-fraction 0.1',
        '  $ difft prepare --corpus train.jsonl --val-corpus valid.jsonl --tokenizer gpt2',
        '  $ difft prepare --corpus dataset/data/ --text-field content   # a folder of train-0000N-of-000M.parquet',
        '  $ difft prepare --corpus pile-sample.jsonl.gz --tokenizer gpt2',
      ].join('\n'),
    )
    .action(
      action(async (flags: PrepareFlags) => {
        if (!['skip', 'stop'].includes(flags.onBadFile))
          throw new UserError(`--on-bad-file ${flags.onBadFile}: use skip or stop`);
        const valFraction = Number(flags.valFraction);
        if (!Number.isFinite(valFraction)) throw new UserError(`--val-fraction ${flags.valFraction}: not a number`);
        let progress: ReturnType<typeof createProgress> | undefined;
        const started = Date.now();
        const result = await prepare({
          sources: flags.corpus,
          valSources: flags.valCorpus,
          tokenizer: flags.tokenizer,
          valFraction,
          out: flags.out,
          textField: flags.textField,
          onBadFile: flags.onBadFile as 'skip' | 'stop',
          force: flags.force,
          onWarning: (message) =>
            progress ? progress.log(`warning: ${message}`) : process.stderr.write(`warning: ${message}\n`),
          onProgress: ({ bytesDone, bytesTotal, tokens }) => {
            progress ??= createProgress({
              label: 'prepare',
              total: bytesTotal,
              unit: megabytes,
              fields: '{tokens} tokens',
            });
            progress.update(bytesDone, { tokens: tokens.toLocaleString('en-US') });
          },
        });
        progress?.stop();
        const { manifest } = result;
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        process.stdout.write(
          `${result.reused ? 'reused' : 'wrote'} ${result.dir}\n` +
            `tokenizer ${tokenizerName(result.manifest.tokenizer)}, ` +
            `vocab ${manifest.vocabSize}, ${manifest.dtype}\n` +
            `train ${manifest.splits.train.tokens.toLocaleString('en-US')} tokens ` +
            `(${megabytes(manifest.splits.train.bytes)}), ` +
            `val ${manifest.splits.val.tokens.toLocaleString('en-US')} tokens ` +
            `(${megabytes(manifest.splits.val.bytes)}) ` +
            `in ${seconds}s\n`,
        );
      }),
    );
}
