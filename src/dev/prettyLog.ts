/** Renders one pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value …` for humans; other lines as is. */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return line;
    rec = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, ...rest } = rec;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${clock} ${String(level ?? "")
    .toUpperCase()
    .padEnd(5)} ${String(msg ?? "")}${fields ? `  ${fields}` : ""}`;
}
