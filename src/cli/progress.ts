// Training progress: a live bar (step/total, loss, tokens/s, ETA) on a terminal; plain periodic
// lines when stderr is a file or a CI log.
import { SingleBar } from 'cli-progress';
import type { StepReport } from '../distill/hooks.js';

export interface ProgressView {
  update(report: StepReport): void;
  /** A log line that must not tear the bar. */
  log(line: string): void;
  stop(): void;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function createProgress(logEvery: number, stream: NodeJS.WriteStream = process.stderr): ProgressView {
  if (!stream.isTTY) {
    return {
      update(r) {
        if (r.step === 1 || r.step % logEvery === 0 || r.step === r.totalSteps) {
          stream.write(
            `step ${r.step}/${r.totalSteps}  epoch ${r.epoch.toFixed(2)}  loss ${r.loss.toFixed(4)} (kd ${r.kdLoss.toFixed(4)}, ce ${r.ceLoss === null ? '–' : r.ceLoss.toFixed(4)})  ` +
              `lr ${r.lr.toExponential(2)}  ${r.tokensPerSecond.toFixed(0)} tok/s  eta ${duration(r.etaSeconds)}\n`,
          );
        }
      },
      log: (line) => stream.write(`${line}\n`),
      stop() {},
    };
  }
  const bar = new SingleBar(
    { format: 'step {value}/{total} [{bar}] loss {loss} (kd {kd}, ce {ce}) | {tps} tok/s | eta {eta_h}', hideCursor: true, stream, clearOnComplete: false },
  );
  let started = false;
  return {
    update(r) {
      const payload = { loss: r.loss.toFixed(4), kd: r.kdLoss.toFixed(4), ce: r.ceLoss === null ? null : r.ceLoss.toFixed(4), tps: r.tokensPerSecond.toFixed(0), eta_h: duration(r.etaSeconds) };
      if (!started) {
        bar.start(r.totalSteps, r.step, payload);
        started = true;
      } else bar.update(r.step, payload);
    },
    log(line) {
      if (started) {
        stream.write('\r\x1b[K');
        stream.write(`${line}\n`);
        bar.render();
      } else stream.write(`${line}\n`);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
