// The teachers of an ensemble, by where their predictions come from, and each one's signal for a
// batch (what the mixture and the routing combine).
import type { PaddedBatch } from '../../data/pad-batch.js';
import type { Tensor } from '../../tensor/index.js';
import type { ServedTeacher } from '../teacher-service/served-teacher.js';
import { cachedSignal, onlineSignal, type TeacherSignal, type TopKRowsSource } from '../teacher-signal.js';
import type { TeacherSource } from '../teacher.js';

/** One teacher of an ensemble, by where its predictions come from. */
export type EnsembleMember =
  | { name: string; kind: 'logits'; teacher: TeacherSource }
  /** A cache's rows, or a served teacher's (`served`: its rows are this step's, set by the trainer). */
  | { name: string; kind: 'top-k'; rows: TopKRowsSource | null; served?: ServedTeacher };

/** One member's signal for a batch (`sourceIndices`: the examples' rows in a cache or a service's step). */
export function memberSignal(member: EnsembleMember, batch: PaddedBatch, index: Tensor, sourceIndices: readonly number[], device: string): TeacherSignal {
  if (member.kind === 'logits') return onlineSignal(member.teacher, batch, index, device);
  if (!member.rows) throw new Error(`teacher ${member.name}: no rows were fetched for this step`);
  return cachedSignal(member.rows.rows(sourceIndices, device));
}

