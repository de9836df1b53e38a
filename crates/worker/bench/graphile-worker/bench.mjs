// graphile-worker 0.16.6 in the scenarios of crates/worker/examples/queue_throughput.rs,
// on the same PostgreSQL: statistics of an idle queue (`analyze` of the empty
// table), then the worker started before the backlog arrives or after it;
// the rate runs from the first insert (before) or the worker's start (after)
// to the last completion. graphile-worker deletes a job when it completes.
//
//   npm ci && DATABASE_URL=postgres://… node bench.mjs --backlog 10000,100000 \
//       --start before,after --rounds 3 [--unrunnable 200000] [--concurrency 64]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { Logger, run, runMigrations } from "graphile-worker";

const { values } = parseArgs({
  options: {
    backlog: { type: "string", default: "100000" },
    start: { type: "string", default: "before,after" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    unrunnable: { type: "string", default: "0" },
  },
});
const backlogs = values.backlog.split(",").map(Number);
const starts = values.start.split(",");
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const unrunnable = Number(values.unrunnable);
const server = process.env.DATABASE_URL;
if (!server) throw new Error("DATABASE_URL names the PostgreSQL server to create databases on");
const quiet = new Logger(() => () => {});

function databaseUrl(name) {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient(url, use) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function addJobs(client, task, count, runAt) {
  for (let left = count; left > 0; left -= 5000) {
    await client.query(
      `select graphile_worker.add_jobs(array(
         select row($1, '{}'::json, null, $3::timestamptz, null, null, null, null)::graphile_worker.job_spec
         from generate_series(1, $2)))`,
      [task, Math.min(left, 5000), runAt],
    );
  }
}

async function outstanding(client) {
  const { rows } = await client.query(
    `select count(*)::int as n from graphile_worker._private_jobs j
     join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'noop'`,
  );
  return rows[0].n;
}

async function runOnce(backlog, start) {
  const name = `gw_${randomUUID().replaceAll("-", "")}`;
  await withClient(server, (c) => c.query(`create database ${name}`));
  const url = databaseUrl(name);
  try {
    await runMigrations({ connectionString: url, logger: quiet });
    return await withClient(url, async (client) => {
      if (unrunnable > 0) await addJobs(client, "retired", unrunnable, new Date(Date.now() - 3600e3));
      await client.query("analyze graphile_worker._private_jobs");
      const startWorker = () =>
        run({
          connectionString: url,
          concurrency,
          maxPoolSize: concurrency + 2,
          noHandleSignals: true,
          pollInterval: 1000,
          logger: quiet,
          taskList: { noop: async () => {} },
        });
      let runner = start === "before" ? await startWorker() : null;
      const insertsBegan = performance.now();
      await addJobs(client, "noop", backlog, null);
      const began = runner ? insertsBegan : performance.now();
      runner ??= await startWorker();
      while ((await outstanding(client)) > 0) await new Promise((r) => setTimeout(r, 50));
      const seconds = (performance.now() - began) / 1000;
      await runner.stop();
      return backlog / seconds;
    });
  } finally {
    await withClient(server, (c) => c.query(`drop database ${name} with (force)`));
  }
}

const results = new Map();
for (let round = 1; round <= rounds; round++) {
  for (const backlog of backlogs) {
    for (const start of starts) {
      const rate = await runOnce(backlog, start);
      console.log(`round ${round}: ${backlog} jobs, worker ${start}, graphile-worker: ${rate.toFixed(0)} jobs/s`);
      const key = `${backlog} | ${start}`;
      results.set(key, [...(results.get(key) ?? []), rate]);
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\n${rounds} rounds, concurrency ${concurrency}, ${unrunnable} unrunnable jobs ahead; medians`);
console.log("| worker | backlog | worker started | jobs/s | rounds |\n|---|---|---|---|---|");
for (const [key, rates] of results) {
  console.log(`| graphile-worker 0.16.6 | ${key} | ${median(rates).toFixed(0)} | ${rates.map((r) => r.toFixed(0)).join(", ")} |`);
}
