// Manifest, the value of a `jobs` key: the subset of wire.md §5.3 the agent reads.
import { z } from "zod";
import { runAsSchema, shellSchema } from "./command.js";
import type { Decoded } from "./decoded.js";
import { decodeWith, defaulted, omittedWhenEmpty, putIfPresent, str } from "./schema.js";
import { encodeStaleness, stalenessSchema } from "./staleness.js";
import type { Manifest, ManifestExecute } from "./types.js";

const wireExecute = z
  .object({
    shell: shellSchema,
    // Optional here because a later manifest may carry `script_object` instead; one of the
    // two is required (checked below).
    script: z.string().nullish(),
    script_object: omittedWhenEmpty(str),
    timeout: omittedWhenEmpty(str),
    run_as: defaulted(runAsSchema, "system"),
    cwd: omittedWhenEmpty(str),
  })
  .superRefine((w, ctx) => {
    if (typeof w.script === "string" || w.script_object !== undefined) return;
    ctx.addIssue({ code: "custom", path: ["script"], input: w.script, message: "is required" });
  });

const wireManifest = z.object({
  id: str,
  version: str,
  execute: wireExecute,
  staleness: stalenessSchema,
});

export function decodeManifest(value: unknown): Decoded<Manifest> {
  const decoded = decodeWith(wireManifest, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  const execute: ManifestExecute = {
    shell: w.execute.shell,
    script: w.execute.script ?? "",
    runAs: w.execute.run_as,
  };
  if (w.execute.script_object !== undefined) execute.scriptObject = w.execute.script_object;
  if (w.execute.timeout !== undefined) execute.timeout = w.execute.timeout;
  if (w.execute.cwd !== undefined) execute.cwd = w.execute.cwd;
  return {
    ok: true,
    value: { id: w.id, version: w.version, execute, staleness: w.staleness },
  };
}

export function encodeManifest(m: Manifest): Record<string, unknown> {
  const execute: Record<string, unknown> = { shell: m.execute.shell };
  if (m.execute.scriptObject) execute.script_object = m.execute.scriptObject;
  else execute.script = m.execute.script;
  putIfPresent(execute, "timeout", m.execute.timeout);
  execute.run_as = m.execute.runAs;
  putIfPresent(execute, "cwd", m.execute.cwd);
  return { id: m.id, version: m.version, execute, staleness: encodeStaleness(m.staleness) };
}
