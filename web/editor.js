/**
 * The SQL editor: a plain textarea with a line-number gutter and a backdrop behind it. The backdrop
 * holds the same text laid out with the same font (invisible), so an error's line and column can be
 * highlighted exactly under the character the server pointed at, without an editor library.
 */
import { h } from './format.js';

/**
 * @param {{textarea: HTMLTextAreaElement, backdrop: HTMLElement, gutter: HTMLElement, errorBox: HTMLElement, onRun: () => void}} els
 */
export function createEditor({ textarea, backdrop, gutter, errorBox, onRun }) {
  const gutterInner = h('div', { class: 'gutter-inner' });
  const backdropInner = h('div', { class: 'backdrop-inner' });
  gutter.replaceChildren(gutterInner);
  backdrop.replaceChildren(backdropInner);
  /** @type {{line: number, column: number, message: string, text: string} | null} */
  let error = null;

  function render() {
    const lines = textarea.value.split('\n');
    const errLine = error && error.text === textarea.value ? error.line : 0;
    gutterInner.replaceChildren(...lines.map((_, i) => h('div', {
      class: i + 1 === errLine ? 'ln error' : 'ln',
      'data-line': i + 1,
      'data-testid': i + 1 === errLine ? 'sql-error-gutter' : null,
    }, String(i + 1))));
    backdropInner.replaceChildren(...lines.map((text, i) => {
      if (i + 1 !== errLine) return h('div', { class: 'bl' }, text);
      // The marked character: the one at the column, or a space past the end of the line.
      const c = Math.max(0, error.column - 1);
      const ch = c < text.length ? text[c] : ' ';
      return h('div', { class: 'bl error-line', 'data-testid': 'sql-error-line', 'data-line': errLine },
        text.slice(0, c),
        h('span', { class: 'caret-mark', 'data-testid': 'sql-error-caret', 'data-column': error.column }, ch),
        c < text.length ? text.slice(c + 1) : '');
    }));
    syncScroll();
  }

  function syncScroll() {
    const x = textarea.scrollLeft, y = textarea.scrollTop;
    backdropInner.style.transform = `translate(${-x}px, ${-y}px)`;
    gutterInner.style.transform = `translateY(${-y}px)`;
  }

  /** Shows the message with the offending line and a `^` under the column, and marks the spot in the editor. */
  function markError(message, line, column) {
    if (line && column) {
      error = { line, column, message, text: textarea.value };
      const src = textarea.value.split('\n')[line - 1] ?? '';
      errorBox.replaceChildren(
        h('div', { class: 'error-title' }, h('strong', {}, `Line ${line}, column ${column}: `), h('span', { 'data-testid': 'sql-error-message' }, message)),
        h('pre', { class: 'snippet', 'data-testid': 'sql-error-snippet' }, `${String(line).padStart(4)} | ${src}\n${' '.repeat(4)} | ${' '.repeat(Math.max(0, column - 1))}^`),
      );
      errorBox.dataset.line = String(line);
      errorBox.dataset.column = String(column);
      scrollIntoView(line, column);
    } else {
      error = null;
      errorBox.replaceChildren(h('div', { class: 'error-title' }, h('span', { 'data-testid': 'sql-error-message' }, message)));
      delete errorBox.dataset.line;
      delete errorBox.dataset.column;
    }
    errorBox.hidden = false;
    render();
  }

  function clearError() {
    error = null;
    errorBox.hidden = true;
    errorBox.replaceChildren();
    delete errorBox.dataset.line;
    delete errorBox.dataset.column;
    render();
  }

  /** Puts the cursor at the error and scrolls it into view. */
  function scrollIntoView(line, column) {
    const lines = textarea.value.split('\n');
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.min(column - 1, (lines[line - 1] ?? '').length);
    textarea.setSelectionRange(offset, offset);
    const lh = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    const top = (line - 1) * lh;
    if (top < textarea.scrollTop || top > textarea.scrollTop + textarea.clientHeight - 2 * lh) textarea.scrollTop = Math.max(0, top - lh * 2);
  }

  textarea.addEventListener('input', render);
  textarea.addEventListener('scroll', syncScroll);
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      onRun();
    } else if (e.key === 'Tab' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      // execCommand keeps the browser's undo history; fall back to a plain edit where it is gone.
      if (!document.execCommand?.('insertText', false, '  ')) textarea.setRangeText('  ', textarea.selectionStart, textarea.selectionEnd, 'end');
      render();
    }
  });
  render();

  return {
    get value() { return textarea.value; },
    setValue(v) { textarea.value = v; clearError(); },
    markError,
    clearError,
    /** The error currently marked, or null (stale once the text changed). */
    get error() { return error && error.text === textarea.value ? { line: error.line, column: error.column, message: error.message } : null; },
  };
}
