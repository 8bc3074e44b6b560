import { inspect } from "node:util";

const REDACTED = "[redacted]";

/**
 * A credential that must never reach a log line. JSON serialisation (pino), string conversion
 * and util.inspect all print a placeholder; only `reveal()` gives the value.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
