import { parentPort } from 'node:worker_threads';
import { solvePow, type PowResult } from './pow-solver';

/** One slice of a solve: the counters start, start + step, … below limit. */
export interface PowTask {
  taskId: number;
  seed: string;
  difficulty: string;
  config: unknown[];
  start: number;
  step: number;
  limit: number;
  /** Shared with the pool; non-zero once the solve is over (solved elsewhere, aborted). */
  stop: Int32Array;
}

export type PowTaskReply = { taskId: number; ok: true; result: PowResult } | { taskId: number; ok: false; message: string };

function runTask(task: PowTask): PowTaskReply {
  try {
    const result = solvePow(task.seed, task.difficulty, task.config, {
      start: task.start,
      step: task.step,
      limit: task.limit,
      shouldStop: () => Atomics.load(task.stop, 0) !== 0,
    });
    return { taskId: task.taskId, ok: true, result };
  } catch (error) {
    return { taskId: task.taskId, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (task: PowTask) => port.postMessage(runTask(task)));
}
