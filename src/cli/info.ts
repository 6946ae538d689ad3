import type { Command } from 'commander';
import YAML from 'yaml';
import { useEngine } from '../backend/engines.js';
import { checkpointInfo } from '../inspect/info.js';
import { action } from './run.js';

export function infoCommand(program: Command): void {
  program
    .command('info')
    .description('show a checkpoint: config, parameter counts, λ, tokenizer, training progress')
    .argument('<checkpoint>', 'a checkpoint directory, or a run directory (its newest checkpoint)')
    .option('--json', 'print machine-readable results')
    .addHelpText('after', ['', 'Example:', '  $ difft info checkpoints/default-20261124-170000'].join('\n'))
    .action(
      action(async (path: string, flags: { json?: boolean }) => {
        await useEngine('cpu'); // small reads only: the reference engine is enough
        const info = checkpointInfo(path);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        const p = info.progress;
        const number = (n: number) => n.toLocaleString('en-US');
        const bestStep = p.bestStep !== undefined ? ` (step ${p.bestStep})` : '';
        const parts = ['embedding', 'attention', 'ffn', 'norm', 'head'] as const;
        const components = parts.map((part) => `${part} ${number(info.parameters[part])}`);
        const lines = [
          `checkpoint  ${info.checkpoint}`,
          `written by  difft ${info.difftVersion}, trained on the ${info.engine} engine`,
          `tokenizer   ${info.tokenizer} (vocab ${number(info.vocabSize)})`,
          `training    memory ${info.trainingMemory} on ${info.engine}`,
          `progress    step ${number(p.step)} of ${number(p.steps)}, ${number(p.tokens)} tokens, ` +
            `${p.elapsedSeconds.toFixed(0)} s`,
          `val loss    last ${p.lastValLoss?.toFixed(4) ?? '-'}, best ${p.bestValLoss?.toFixed(4) ?? '-'}${bestStep}`,
          `parameters  ${number(info.parameters.total)} total: ${components.join(', ')}`,
        ];
        if (info.switches.length > 0) lines.push(`ablation    ${info.switches.join(', ')} (off the paper's defaults)`);
        if (info.lambdas) lines.push(`λ per layer ${info.lambdas.map((l) => l.toFixed(4)).join(', ')}`);
        if (info.lambdaStats) {
          const lambdas = info.lambdaStats.map((s) => `${s.lambdaMean.toFixed(3)} ± ${s.lambdaStd.toFixed(3)}`);
          const gates = info.lambdaStats.map(
            (s) => `${s.gate.mean.toFixed(3)} (${s.gate.p05.toFixed(3)}–${s.gate.p95.toFixed(3)})`,
          );
          lines.push(`λ per layer ${lambdas.join(', ')} (mean ± std over validation tokens)`);
          lines.push(`gate sigmoid(λ) per layer ${gates.join(', ')} (mean, 5th–95th percentile)`);
        }
        process.stdout.write(`${lines.join('\n')}\n\nconfig:\n${YAML.stringify(info.config).replace(/^/gm, '  ')}`);
      }),
    );
}
