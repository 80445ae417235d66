// Run by test/unit/kernels-threads.test.ts in a child process (a pool that waits for a helper that
// never comes blocks its thread for good): a 1-thread pool is told it has one helper and 2 threads,
// as if its helper were descheduled for good, and runs batched products, then attention. Prints one
// JSON line: the results' bytes at 1 thread and in that state, and the pool's counters (after the
// products).
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { attend, product } from "./pool-resize.ts";

async function main(): Promise<void> {
  const k = await Kernels.create({ threads: 1 });
  const alone = product(k, GgmlType.Q4_K, 11);
  const attnAlone = attend(k, 13);
  k.exports.pool_set_helpers(1);
  k.exports.pool_set_threads(2);
  const absent: string[] = [];
  for (let i = 0; i < 40; i++) absent.push(product(k, GgmlType.Q4_K, 11));
  const stats = { tasks: k.exports.pool_stat_tasks(), solo: k.exports.pool_stat_solo_tasks(), helperShares: k.exports.pool_stat_helper_shares() };
  const attnAbsent = attend(k, 13);
  k.exports.pool_set_helpers(0);
  await k.close();
  console.log(JSON.stringify({ alone, absent, stats, attnAlone, attnAbsent }));
}

void main();
