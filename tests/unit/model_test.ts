import { describe, it } from "node:test";
import process from "node:process";
import fc from "fast-check";
import { commandArbitrary, configArbitrary } from "./_model_commands.ts";
import { ModelRun, stats } from "./_model.ts";

// MODEL_SEED and MODEL_RUNS explore further: MODEL_SEED=$RANDOM MODEL_RUNS=3000 deno test -A tests/model_test.ts
const seed = Number(process.env.MODEL_SEED ?? 20_251_126);
const numRuns = Number(process.env.MODEL_RUNS ?? 400);
const maxCommands = 40;

describe("the pool against a model", () => {
  it(
    "keeps its counts, limits and promises under random commands, and closes clean",
    { timeout: 600_000 },
    async () => {
      const start = performance.now();
      await fc.assert(
        fc.asyncProperty(
          configArbitrary,
          fc.array(commandArbitrary, { minLength: 5, maxLength: maxCommands, size: "max" }),
          async (config, commands) => {
            const run = new ModelRun(config);
            for (const command of commands) await run.run(command);
            await run.finish();
          },
        ),
        { seed, numRuns },
      );
      const ms = Math.round(performance.now() - start);
      console.log(
        `model: ${stats.runs} runs, ${stats.steps} steps in ${ms} ms (MODEL_SEED=${seed})`,
      );
    },
  );
});
