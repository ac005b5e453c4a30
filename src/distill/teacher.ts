// Where the teacher's logits come from. The online teacher is a frozen model in eval mode, run
// without autograd in its own dtype and on its own device; its logits are handed to the student's
// device. (An offline top-k cache is the other source the design allows.)
import { softcap } from '../models/decoder/softcap.js';
import type { CausalLM } from '../models/decoder/model.js';
import { rowsAt } from '../eval/targets.js';
import { gemm, noGrad, type Tensor, tidy } from '../tensor/index.js';
import { batchInput } from '../models/decoder/batch-input.js';

export interface TeacherSource {
  /** The teacher's final hidden states [K, H] at the predictor positions `index` (see eval/targets.ts), on the teacher's device... */
  hiddenRows(inputIds: number[][], attentionMask: number[][], index: Tensor): Tensor;
  /** ...and its LM head applied to some of them: logits [c, V] on `device`. */
  headLogits(hiddenRows: Tensor, device: string): Tensor;
  dispose(): void;
}

export class OnlineTeacher implements TeacherSource {
  constructor(readonly model: CausalLM) {
    model.eval();
    for (const p of model.parameters()) p.requiresGrad_(false);
  }

  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  rows(inputIds: number[][], attentionMask: number[][], index: Tensor, device: string): Tensor {
    return tidy(() => this.headLogits(this.hiddenRows(inputIds, attentionMask, index), device));
  }

  hiddenRows(inputIds: number[][], attentionMask: number[][], index: Tensor): Tensor {
    return noGrad(() =>
      tidy(() => {
        const own = this.model.device;
        const input = batchInput(inputIds, attentionMask, own);
        const hidden = this.model.hiddenStates(input.ids, input.options);
        return rowsAt(hidden, index.to({ device: own }));
      }),
    );
  }

  headLogits(hiddenRows: Tensor, device: string): Tensor {
    return noGrad(() =>
      tidy(() => {
        const logits = softcap(gemm(hiddenRows, this.model.lmHeadWeight, { transposeB: true }), this.model.config.finalLogitSoftcap);
        return logits.device === device ? logits : logits.to({ device });
      }),
    );
  }

  dispose(): void {
    this.model.dispose();
  }
}
