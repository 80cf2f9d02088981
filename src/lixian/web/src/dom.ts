// A tiny DOM builder: text always goes in as text (never innerHTML), so a task name or a
// server's error message can never become markup or script.

type Child = Node | string | number | null | undefined | false;
type Handler = (event: Event) => void;

export interface Props {
  class?: string;
  text?: string;
  on?: Record<string, Handler>;
  attrs?: Record<string, string>;
  data?: Record<string, string>;
  [prop: string]: unknown;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined) continue;
      if (key === "class") el.className = value as string;
      else if (key === "text") el.textContent = value as string;
      else if (key === "on") {
        for (const [name, fn] of Object.entries(value as Record<string, Handler>)) {
          el.addEventListener(name, fn);
        }
      } else if (key === "attrs") {
        for (const [name, v] of Object.entries(value as Record<string, string>)) {
          el.setAttribute(name, v);
        }
      } else if (key === "data") {
        for (const [name, v] of Object.entries(value as Record<string, string>)) {
          el.dataset[name] = v;
        }
      } else if (key in el) {
        (el as unknown as Record<string, unknown>)[key] = value;
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Set text only when it changed: most rows keep most of their fields between pushes. */
export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function $(selector: string, root: ParentNode = document): HTMLElement {
  const found = root.querySelector<HTMLElement>(selector);
  if (!found) throw new Error(`missing ${selector}`);
  return found;
}

/** A labelled button. */
export function button(label: string, onClick: (event: Event) => void, cls = ""): HTMLButtonElement {
  return h("button", { type: "button", class: cls, text: label, on: { click: onClick } });
}

let toastHost: HTMLElement | null = null;

/** A short message at the bottom of the screen (errors stay longer). */
export function toast(message: string, kind: "info" | "error" = "info"): void {
  if (!toastHost) {
    toastHost = h("div", { class: "toasts", attrs: { role: "status", "aria-live": "polite" } });
    document.body.appendChild(toastHost);
  }
  const item = h("div", { class: `toast ${kind}`, text: message });
  toastHost.appendChild(item);
  while (toastHost.childElementCount > 4) toastHost.firstElementChild?.remove();
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3500);
}
