// Run by test/unit/kernels-threads.test.ts in a child process (a pool that waits for a helper that
// never comes blocks its thread for good): a 1-thread pool is told it has one helper and 2 threads,
// as if its helper were descheduled for good, and runs batched products. Prints one JSON line: the
// products' bytes at 1 thread and in that state, and the pool's counters.
import { Kernels } from "../../src/engine/wasm/kernels.ts";
import { GgmlType } from "../../src/engine/quant/types.ts";
import { product } from "./pool-resize.ts";

async function main(): Promise<void> {
  const k = await Kernels.create({ threads: 1 });
  const alone = product(k, GgmlType.Q4_K, 11);
  k.exports.pool_set_helpers(1);
  k.exports.pool_set_threads(2);
  const absent: string[] = [];
  for (let i = 0; i < 40; i++) absent.push(product(k, GgmlType.Q4_K, 11));
  const stats = { tasks: k.exports.pool_stat_tasks(), solo: k.exports.pool_stat_solo_tasks(), helperShares: k.exports.pool_stat_helper_shares() };
  k.exports.pool_set_helpers(0);
  await k.close();
  console.log(JSON.stringify({ alone, absent, stats }));
}

void main();
