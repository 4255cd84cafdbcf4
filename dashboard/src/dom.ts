/**
 * Small DOM helpers. Text always goes in through `textContent` (agent labels,
 * questions, host names are hostile input): nothing here ever parses HTML.
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no #${id} in the page`);
  return node as T;
}

export function button(text: string, onClick: () => void, className?: string): HTMLButtonElement {
  const b = el("button", className, text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/** "12 s ago", "5 min ago", "3 h ago". */
export function ago(since: number | undefined, now = Date.now()): string {
  if (typeof since !== "number" || !Number.isFinite(since)) return "—";
  const s = Math.max(0, Math.round((now - since) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A string field of a hostile record, else the fallback. */
export function str(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;
}
