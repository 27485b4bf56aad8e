// Source viewer: highlight the cited passage named by the URL fragment "#start-end"
// (code-point offsets into the article's original text) and scroll it into view.
(() => {
  'use strict';
  const article = document.getElementById('article');
  const note = document.getElementById('cite-note');
  const jump = document.getElementById('cite-jump');
  if (!article) return;

  // Python counts code points; JavaScript strings count UTF-16 units.
  function toUnits(str, cp) {
    let units = 0;
    for (const ch of str) {
      if (cp-- <= 0) break;
      units += ch.length;
    }
    return units;
  }

  function clear() {
    for (const m of article.querySelectorAll('mark.cited')) {
      const parent = m.parentNode;
      parent.replaceChild(document.createTextNode(m.textContent), m);
      parent.normalize();
    }
    if (note) note.hidden = true;
  }

  function parse() {
    const m = /^#(\d{1,9})-(\d{1,9})$/.exec(location.hash);
    if (!m) return null;
    const start = Number(m[1]);
    const end = Number(m[2]);
    return end > start ? { start, end } : null;
  }

  function highlight(focus) {
    clear();
    const span = parse();
    if (!span) return null;
    const marks = [];
    for (const el of article.querySelectorAll('[data-s]')) {
      const s = Number(el.dataset.s);
      const e = Number(el.dataset.e);
      if (e <= span.start || s >= span.end) continue;
      const text = el.firstChild;
      if (!text || text.nodeType !== Node.TEXT_NODE) continue;
      const from = toUnits(text.data, Math.max(span.start, s) - s);
      const to = toUnits(text.data, Math.min(span.end, e) - s);
      if (to <= from) continue;
      const range = document.createRange();
      range.setStart(text, from);
      range.setEnd(text, to);
      const mark = document.createElement('mark');
      mark.className = 'cited';
      range.surroundContents(mark);
      marks.push(mark);
    }
    if (!marks.length) return null;
    const first = marks[0];
    first.id = 'cited';
    first.tabIndex = -1;
    if (note) note.hidden = false;
    first.scrollIntoView({ block: 'center', behavior: 'auto' });
    if (focus) first.focus({ preventScroll: true });
    return first;
  }

  if (jump) {
    jump.addEventListener('click', (e) => {
      e.preventDefault();
      const first = article.querySelector('mark.cited');
      if (first) { first.scrollIntoView({ block: 'center' }); first.focus({ preventScroll: true }); }
    });
  }
  window.addEventListener('hashchange', () => highlight(true));
  highlight(true);
})();
