import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomically } from '../atomic.js';
import { checkOutputDirectory } from '../formats/directory-kind.js';
import { useEngine, type EngineRequest } from '../backend/engines.js';
import { parseTaskSpec } from '../config/task.js';
import { analyzeCheckpoint, type CheckpointAnalysis } from '../inspect/analyze.js';
import { ROLES } from '../measure/analysis.js';
import { analysisLabels, analysisPlots } from '../report/analysis-plots.js';
import { positiveInteger, wrongShares } from './eval.js';
import { action } from './run.js';
import { percent, table } from './table.js';
import { ANALYSIS_FILE, analysisFile } from '../formats/analysis.js';

interface AnalyzeFlags {
  task?: string;
  examples: string;
  batchSize: string;
  outlierExamples: string;
  out: string;
  plots: boolean;
  heads?: boolean;
  backend: string;
  json?: boolean;
}

const fixed = (value: number | undefined, digits = 3) =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);

function scoresTable(analyses: CheckpointAnalysis[], labels: string[]): string {
  return table(
    [
      'checkpoint',
      'task',
      'probes',
      'accuracy',
      'exact match',
      'answer loss',
      'chance (digits / random fact)',
      'wrong: other fact / absent / malformed',
    ],
    analyses.map((a, i) => [
      labels[i],
      `${a.probes.task}, ${a.probes.length} tokens`,
      `${a.scores.examples} (${a.scores.answers} answers)`,
      percent(a.scores.accuracy),
      percent(a.scores.exactMatch),
      fixed(a.scores.answerLoss),
      `${percent(a.scores.chance.digits)} / ${percent(a.scores.chance.randomFact)}`,
      wrongShares(a.scores),
    ]),
  );
}

function allocationTable(analysis: CheckpointAnalysis, perHead: boolean): string {
  const maps = Object.keys(analysis.layers[0].allocation);
  const rows = analysis.layers.flatMap((layer) =>
    maps.flatMap((map) => {
      const { mean, heads } = layer.allocation[map];
      const row = (head: string, allocation: typeof mean) => [
        String(layer.layer),
        map,
        head,
        ...ROLES.map((role) => fixed(allocation[role])),
      ];
      return [row('mean', mean), ...(perHead ? heads.map((allocation, head) => row(String(head), allocation)) : [])];
    }),
  );
  return table(['layer', 'map', 'head', 'answer needle', 'other needles', 'distractors', 'query region'], rows);
}

function outlierTable(analysis: CheckpointAnalysis): string {
  const header = [
    'layer',
    'attention logit: top-1',
    'top-10',
    'median',
    'top/median',
    'activation: top-1',
    'top-10',
    'median',
    'top/median',
    'kurtosis',
  ];
  // the attention's own state, where it has one: diff's λ, diff2's gates
  if (analysis.layers.some((layer) => layer.lambda !== undefined)) header.push('λ');
  if (analysis.layers.some((layer) => layer.gate)) header.push('gate σ(λ): mean (p5–p95)');
  return table(
    header,
    analysis.layers.map((layer) => {
      const magnitudes = (m: CheckpointAnalysis['layers'][number]['logits']) => [
        fixed(m.top1, 2),
        fixed(m.top10, 2),
        fixed(m.median, 3),
        fixed(m.ratio, 1),
      ];
      const row = [
        String(layer.layer),
        ...magnitudes(layer.logits),
        ...magnitudes(layer.hidden),
        fixed(layer.hidden.kurtosis, 1),
      ];
      if (layer.lambda !== undefined) row.push(fixed(layer.lambda));
      if (layer.gate) row.push(`${fixed(layer.gate.mean)} (${fixed(layer.gate.p05)}–${fixed(layer.gate.p95)})`);
      return row;
    }),
  );
}

export function analyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description(
      'the mechanism: task accuracy, attention allocation to the answer vs noise, outliers, λ — checkpoints side ' +
        'by side on one probe set',
    )
    .argument('<checkpoint...>', 'checkpoint directories, or run directories (their newest checkpoint)')
    .option(
      '-t, --task <spec>',
      'probe task, e.g. needles or mqar:needles=8,queries=4 (default: the task the checkpoints were trained on)',
    )
    .option('-n, --examples <n>', 'probe examples', '64')
    .option('--batch-size <n>', 'examples per forward pass', '16')
    .option(
      '--outlier-examples <n>',
      'examples whose every attention logit and activation feed the outlier statistics',
      '16',
    )
    .option('-o, --out <dir>', `where plots and ${ANALYSIS_FILE} go`, 'analysis')
    .option('--heads', 'allocation per head as well as the mean over heads')
    .option('--no-plots', 'skip the plots')
    .option('-b, --backend <name>', 'tfjs engine', 'auto')
    .option('--json', 'print machine-readable results instead of tables')
    .addHelpText(
      'after',
      [
        '',
        'Allocation: mean attention mass from the positions that produce answer tokens on the needle holding the',
        'answer, on the other needles, on the distractor text and on the query region (for diff and diff2 on the',
        'differential map A1 − λ·A2, whose rows sum to 1 − λ, and on A1 and A2, whose rows sum to 1).',
        '',
        'Examples:',
        '  $ difft analyze runs/standard-seed1 runs/diff-seed1',
        '  $ difft analyze checkpoints/default-20261124-170000 --task needles:needles=4,distractor=text',
      ].join('\n'),
    )
    .action(
      action(async (paths: string[], flags: AnalyzeFlags) => {
        const task = flags.task ? parseTaskSpec(flags.task) : undefined;
        const options = {
          task,
          examples: positiveInteger('--examples', flags.examples)!,
          batchSize: positiveInteger('--batch-size', flags.batchSize)!,
          outlierExamples: positiveInteger('--outlier-examples', flags.outlierExamples)!,
        };
        const out = resolve(flags.out);
        checkOutputDirectory(
          out,
          'analyze --out',
          ['analysis'],
          'choose a new or empty directory, or an earlier analysis',
        );
        const engine = await useEngine(flags.backend as EngineRequest);
        if (!flags.json) process.stderr.write(`${engine.summary}\n`);
        const analyses: CheckpointAnalysis[] = [];
        for (const path of paths) {
          if (!flags.json) process.stderr.write(`analyzing ${path}\n`);
          analyses.push(await analyzeCheckpoint(path, options));
        }
        mkdirSync(out, { recursive: true });
        writeFileAtomically(analysisFile(out), `${JSON.stringify(analyses, null, 2)}\n`);
        const plots = flags.plots ? await analysisPlots(analyses) : [];
        for (const plot of plots) {
          writeFileAtomically(join(out, `${plot.name}.png`), plot.png);
          writeFileAtomically(join(out, `${plot.name}.svg`), plot.svg);
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(analyses, null, 2)}\n`);
          return;
        }
        const labels = analysisLabels(analyses);
        process.stdout.write(`${scoresTable(analyses, labels)}\n`);
        for (const [i, analysis] of analyses.entries()) {
          process.stdout.write(
            `${labels[i]} (${analysis.checkpoint})\n` +
              `attention allocation from answer-producing positions (mass per key role)\n` +
              `${allocationTable(analysis, flags.heads ?? false)}\noutliers\n${outlierTable(analysis)}\n`,
          );
        }
        process.stdout.write(
          `written: ${analysisFile(out)}${plots.length ? `, ${plots.map((p) => `${p.name}.png`).join(', ')}` : ''}\n`,
        );
      }),
    );
}
