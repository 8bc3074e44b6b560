// Building blocks shared by the codecs: zod schemas for the wire vocabulary of wire.md §1 and
// the translation of zod issues into a `Decoded` error. Internal to this folder: zod must not
// leak through the public API.
import { z } from "zod";
import { type Decoded, fail, ok } from "./decoded.js";
import { parseTimestamp } from "./timestamp.js";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Longest rendering of an offending value inside an error message (errors end up in stderr). */
const MAX_SHOWN = 64;

/** JSON type name of a value, for "expected …, got <kind>" messages. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A bounded, JSON-like rendering of a value for error messages. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = kindOf(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export const hasMember = (obj: Record<string, unknown>, key: string): boolean =>
  Object.hasOwn(obj, key);

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  object: "a JSON object",
  array: "an array",
};

/** Our wording for each zod issue, so every message reads `<field>: <problem>`. */
function problemOf(issue: z.core.$ZodRawIssue): string | undefined {
  const input = issue.input;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) return "is required";
      if (input === null) return "must not be null";
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${kindOf(input)}`;
    case "invalid_value":
      if (input === undefined) return "is required";
      if (input === null) return "must not be null";
      return `expected one of ${issue.values.map((v) => show(v)).join(", ")}, got ${show(input)}`;
    case "invalid_union": {
      const discriminator = (issue as { discriminator?: unknown }).discriminator;
      const options = (issue as { options?: unknown }).options;
      if (typeof discriminator === "string" && Array.isArray(options)) {
        const got = isPlainObject(input) ? input[discriminator] : undefined;
        if (got === undefined) return "is required";
        return `expected one of ${options.map((v) => show(v)).join(", ")}, got ${show(got)}`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** `staleness.max_cache_age`, `processes[2].pid`. */
export function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Runs a schema; the first issue (schema member order) becomes the error. Never throws. */
export function decodeWith<S extends z.ZodType>(schema: S, value: unknown): Decoded<z.output<S>> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(value, { error: problemOf });
  } catch (err) {
    // Not expected for JSON values; kept so that decoding can promise never to throw.
    return fail("", `could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (result.success) return ok(result.data);
  const issue = result.error.issues[0];
  if (!issue) return fail("", "invalid value");
  return fail(pathText(issue.path), issue.message);
}

// ---- the wire vocabulary (wire.md §1) ----

export const str = z.string();
export const bool = z.boolean();
export const f64 = z.number();
/** An integer type of wire §1.1.4; one wording for every way a value can miss it. */
const integer = (min: number, max: number, range: string) =>
  z
    .int({
      error: (issue) => {
        if (issue.input === undefined) return "is required";
        if (issue.input === null) return "must not be null";
        return `expected an integer ${range}, got ${show(issue.input)}`;
      },
    })
    .min(min)
    .max(max);

export const u32 = integer(0, 4_294_967_295, "in 0…4294967295");
export const i32 = integer(-2_147_483_648, 2_147_483_647, "in -2147483648…2147483647");
// Beyond 2^53−1 a JSON number is no longer exact, so u64/i64 stop there.
export const u64 = integer(0, MAX_SAFE, "in 0…2^53−1");
export const i64 = integer(-MAX_SAFE, MAX_SAFE, "in ±(2^53−1)");

/** RFC 3339 date-time with a zone → epoch ms (wire §1.2). */
export const timestamp = z.string().transform((text, ctx) => {
  const ms = parseTimestamp(text);
  if (ms !== null) return ms;
  ctx.addIssue({
    code: "custom",
    input: text,
    message: `expected an RFC 3339 date-time with a zone (e.g. 2026-05-16T00:00:00Z), got ${show(text)}`,
  });
  return z.NEVER;
});

/** "omitted when empty": absent, `null` and `""` all mean no value. */
export const omittedWhenEmpty = <T extends z.ZodType>(schema: T) =>
  schema
    .nullish()
    .transform((v): Exclude<z.output<T>, null> | undefined =>
      v === null || v === undefined || v === "" ? undefined : (v as Exclude<z.output<T>, null>),
    );

/** "null when empty": absent, `null` and `""` all become `null`. */
export const nullWhenEmpty = <T extends z.ZodType>(schema: T) =>
  schema
    .nullish()
    .transform((v): Exclude<z.output<T>, undefined> | null =>
      v === null || v === undefined || v === "" ? null : (v as Exclude<z.output<T>, undefined>),
    );

/**
 * "defaulted": absent takes the default. `null` is treated like absent: the vocabulary only
 * promises tolerance of `null` for the "when empty" kinds, but refusing a whole payload over a
 * `null` that has an obvious meaning would help nobody.
 */
export const defaulted = <T extends z.ZodType>(schema: T, fallback: z.output<T>) =>
  schema
    .nullish()
    .transform((v): z.output<T> => (v === null || v === undefined ? fallback : (v as z.output<T>)));

/** A string checked by one of the `ids.ts` rules (which return the broken rule or null). */
export const checkedString = (problem: (value: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const broken = problem(value);
    if (broken !== null) ctx.addIssue({ code: "custom", input: value, message: broken });
  });

// ---- encoding helpers ----

/** Sets `key` only when `value` carries something ("omitted when empty"). */
export function putIfPresent(out: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined || value === null || value === "") return;
  out[key] = value;
}

/** Orders strings by their UTF-8 bytes (= code points), the order the spec calls "byte order". */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
