// Plain-text tables for humans: a header row, columns padded to their widest cell, numbers
// right-aligned. No colours, no box drawing, so output pastes cleanly into tickets.

export type Cell = string | number;

export interface Column {
  header: string;
  /** Right-align (numbers, sizes, ages). */
  right?: boolean;
}

/** Width in terminal columns, close enough for ids and numbers (no East Asian wide forms). */
const width = (s: string): number => [...s].length;

export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly Cell[])[],
): string {
  const text = rows.map((r) => columns.map((_, i) => String(r[i] ?? "")));
  const widths = columns.map((c, i) =>
    Math.max(width(c.header), ...text.map((r) => width(r[i] ?? ""))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - width(cell)));
        return columns[i]?.right ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...text.map(line)].join("\n")}\n`;
}
