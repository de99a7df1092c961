// A few DOM helpers, so the pages build elements without innerHTML: text
// from the manifest or the fabric is always set as text, never parsed.

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | undefined | null>

/** Creates an element with attributes (false/null/undefined omitted, true as empty) and children. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue
    el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, ...children)
  return el
}

/** Appends children (strings as text nodes); skips null, undefined and false. */
export function append (el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c == null || c === false) continue
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)))
  }
}

/** Replaces an element's children. */
export function replace (el: Element, ...children: Child[]): void {
  el.replaceChildren()
  append(el, ...children)
}

/** Sets an element's text only when it changed (no needless layout on every poll). */
export function setText (el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text
}

/** A table with a caption and column headings; returns the table and its body. */
export function table (caption: string, columns: string[], attrs: Attrs = {}): { table: HTMLTableElement, body: HTMLTableSectionElement } {
  const body = h('tbody')
  const t = h('table', attrs,
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...columns.map(c => h('th', { scope: 'col' }, c)))),
    body)
  return { table: t, body }
}

/** A table row of cells. */
export function row (...cells: Child[]): HTMLTableRowElement {
  return h('tr', {}, ...cells.map(c => h('td', {}, c)))
}
