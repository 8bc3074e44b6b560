import type { Logger } from "./logger.js";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace"]);
const noop = () => {};

/**
 * `parent.child(bindings)`, made only when a line at an enabled level is written. A pino child
 * costs its bindings' serialisation and redaction up front (~8 KiB per command); most commands
 * write no line below the configured level, and a burst makes thousands of them.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const real = () => {
    child ??= parent.child(bindings);
    return child;
  };
  return new Proxy({} as Logger, {
    get(_target, key) {
      if (typeof key === "string" && LEVELS.has(key) && !parent.isLevelEnabled(key)) return noop;
      const value = Reflect.get(real(), key);
      return typeof value === "function" ? value.bind(child) : value;
    },
  });
}
