/**
 * A problem with agent.toml that stops the agent (exit 2, behavior.md 1.4). The message is one
 * line that names the file, the key when there is one, what is wrong and how to fix it. It never
 * contains a secret value.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly file: string;
  readonly key: string | undefined;
  readonly line: number | undefined;

  constructor(file: string, detail: string, where: { key?: string; line?: number } = {}) {
    const at = where.line === undefined ? file : `${file}:${where.line}`;
    super(`${at}: ${detail.replace(/\s*\n\s*/g, " ")}`);
    this.file = file;
    this.key = where.key;
    this.line = where.line;
  }
}
