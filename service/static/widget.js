/*! Stride chat widget — plain JavaScript, no dependencies, shipped as written.
 *
 * Embed with one tag:
 *   <script src="https://stride.example.org/widget.js" data-stride-api="https://stride.example.org"
 *           data-title="Ask about hip pain" defer></script>
 * Optional data- attributes: data-accent="#0b5cad", data-position="bottom-right|bottom-left",
 * data-open="true" (open by default), data-target="#css-selector" (render inline in that element).
 *
 * Security: nothing from the server or the user is ever parsed as HTML; the DOM is built with
 * createElement/textContent only. Styles live in a constructable stylesheet adopted by an open
 * shadow root, so a strict Content-Security-Policy (no 'unsafe-inline') is enough.
 */
(() => {
  'use strict';
  const TAG = 'stride-chat';
  if (window.customElements && customElements.get(TAG)) return;

  const script = document.currentScript ||
    document.querySelector('script[data-stride-api]') ||
    document.querySelector('script[src*="widget.js"]');
  const SCRIPT_DATA = script ? Object.assign({}, script.dataset) : {};
  const SCRIPT_SRC = (script && script.src) || location.href;
  const SVGNS = 'http://www.w3.org/2000/svg';
  const MAX_MSGS = 50;
  const MAX_CHARS = 4000;
  const IDLE_MS = 45000;
  const FALLBACK_EMERGENCY = 'This could need emergency care. Call your local emergency number (999, 112 or 911) or go to the nearest emergency department now.';

  const STYLES = `
:host{all:initial!important;display:block!important;position:static!important;visibility:visible!important;opacity:1!important;
 --accent:#0b5cad;--accent-fg:#fff;--bg:#fff;--fg:#1b1d21;--muted:#545a64;--line:#c9ced6;--soft:#f1f4f8;--link:#0a57a6;
 --em-bg:#fdecee;--em-fg:#5f0713;--em-line:#b3001b;--ur-bg:#fff2e3;--ur-line:#a84f00;--sd-bg:#eaf1fc;--sd-line:#2753a0;--shadow:0 8px 28px rgba(0,0,0,.22);
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,Cantarell,"Noto Sans",sans-serif!important;color:var(--fg)!important}
:host([data-inline]){width:100%!important}
@media (prefers-color-scheme:dark){:host{--bg:#17191e;--fg:#eceef2;--muted:#b3b9c3;--line:#434a55;--soft:#242830;--link:#9cc4ff;
 --em-bg:#3d0b12;--em-fg:#ffe0e4;--em-line:#ff6b7f;--ur-bg:#3a2508;--ur-line:#ffad5c;--sd-bg:#142540;--sd-line:#7fb0ff;--shadow:0 8px 28px rgba(0,0,0,.6)}}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.sr{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
button,textarea,a{font:inherit;color:inherit}
button{cursor:pointer;border:0;background:none;margin:0}
:focus-visible{outline:3px solid var(--link);outline-offset:2px}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;flex:none}
svg.fill{fill:currentColor;stroke:none}
svg.flip{transform:rotate(180deg)}
.launcher{position:fixed;z-index:2147483000;bottom:20px;right:20px;display:flex;align-items:center;gap:8px;min-height:52px;max-width:calc(100vw - 40px);
 padding:12px 20px;border-radius:26px;background:var(--accent);color:var(--accent-fg);font-weight:600;box-shadow:var(--shadow)}
.launcher span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.left .launcher{right:auto;left:20px}
.panel{position:fixed;z-index:2147483001;bottom:88px;right:20px;width:400px;max-width:calc(100vw - 40px);height:640px;max-height:calc(100vh - 108px);
 display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:14px;box-shadow:var(--shadow);overflow:hidden;
 animation:pop .16s ease-out}
.left .panel{right:auto;left:20px}
.inline .panel{position:relative;inset:auto;width:100%;max-width:none;height:560px;max-height:none;box-shadow:none;animation:none;z-index:auto}
@keyframes pop{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}
@media (max-width:767.98px){.root:not(.inline) .panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0;border:0}}
header{display:flex;align-items:center;gap:4px;padding:8px 8px 8px 16px;background:var(--accent);color:var(--accent-fg)}
h2{flex:1;margin:0;font-size:16px;font-weight:700;line-height:1.3;min-width:0;overflow-wrap:anywhere}
.icon{display:inline-flex;align-items:center;justify-content:center;min-width:40px;min-height:40px;border-radius:8px}
header .icon:hover{background:rgba(127,127,127,.25)}
header :focus-visible{outline-color:var(--accent-fg)}
.alert-slot:empty{display:none}
.emergency{margin:0;padding:12px 16px;background:var(--em-bg);color:var(--em-fg);border-bottom:4px solid var(--em-line);border-top:4px solid var(--em-line)}
.emergency strong{display:block;font-size:16px;margin-bottom:4px}
.emergency p{margin:0}
.intro{margin:0;padding:14px 16px 0;color:var(--muted);font-size:14px}
.log{position:relative;flex:1;overflow-y:auto;padding:12px 16px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}
.msg{max-width:100%;overflow-wrap:anywhere}
.msg p{margin:0 0 8px}
.msg p:last-child{margin-bottom:0}
.user{align-self:flex-end;max-width:85%;padding:8px 12px;border-radius:14px 14px 4px 14px;background:var(--accent);color:var(--accent-fg);white-space:pre-wrap}
.bot{align-self:stretch;padding:10px 12px;border-radius:14px 14px 14px 4px;background:var(--soft)}
.bot ul{margin:4px 0 8px;padding-left:20px}
.bot li{margin:0 0 4px}
.cite{display:inline-flex;align-items:center;justify-content:center;min-width:24px;min-height:24px;padding:0 4px;margin:0 1px;border-radius:6px;
 font-size:12px;font-weight:700;vertical-align:1px;background:var(--bg);color:var(--link);border:1px solid var(--line)}
.cite[aria-expanded=true]{background:var(--link);color:var(--bg)}
.note{margin:8px 0;padding:10px 12px;border:1px solid var(--line);border-radius:10px;background:var(--bg);font-size:14px}
.note p{margin:0 0 6px}
.note cite{font-style:normal;font-weight:700}
.note blockquote{margin:6px 0;padding:2px 0 2px 10px;border-left:3px solid var(--link);font-style:italic}
.note a,.msg a{color:var(--link);text-decoration:underline}
.safety{margin:0 0 8px;padding:8px 10px;border-radius:8px;border-left:6px solid}
.safety strong{margin-right:4px}
.safety-emergency{background:var(--em-bg);color:var(--em-fg);border-color:var(--em-line)}
.safety-urgent{background:var(--ur-bg);border-color:var(--ur-line)}
.safety-see_doctor{background:var(--sd-bg);border-color:var(--sd-line)}
.abstained .body{font-style:italic}
.disclaimer{margin:8px 0 0!important;font-size:12px;color:var(--muted)}
.meta{display:flex;align-items:center;flex-wrap:wrap;gap:4px;margin-top:6px;font-size:13px;color:var(--muted)}
.meta .icon{min-width:32px;min-height:32px;color:var(--fg)}
.meta .icon[aria-pressed=true]{background:var(--accent);color:var(--accent-fg)}
.fbform{display:flex;flex-wrap:wrap;gap:6px;width:100%;margin-top:4px}
.fbform textarea{flex:1 1 160px;min-height:40px}
.err{align-self:stretch;padding:10px 12px;border-radius:10px;border:1px solid var(--ur-line);background:var(--ur-bg)}
.btn{display:inline-flex;align-items:center;gap:6px;min-height:36px;padding:6px 14px;border-radius:8px;background:var(--accent);color:var(--accent-fg);font-weight:600}
.btn.quiet{background:transparent;color:var(--fg);border:1px solid var(--line)}
.err .btn{margin-top:8px}
.status{color:var(--muted);font-size:14px}
.typing{display:inline-flex;gap:3px;margin-left:4px}
.typing i{width:6px;height:6px;border-radius:50%;background:var(--muted);animation:blink 1s infinite ease-in-out}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}
form{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--line);background:var(--bg)}
textarea{flex:1;min-width:0;resize:none;min-height:44px;max-height:140px;padding:10px 12px;border:1px solid var(--muted);border-radius:10px;background:var(--bg);color:var(--fg);font-size:16px;line-height:1.35}
textarea:focus-visible{outline-offset:0}
.send{min-width:44px;min-height:44px;border-radius:10px;background:var(--accent);color:var(--accent-fg)}
.foot{margin:0;padding:0 12px 8px;font-size:12px;color:var(--muted);background:var(--bg)}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
@media (forced-colors:active){.launcher,.send,.btn,.bot,.user,.safety,.emergency{border:2px solid CanvasText}}
`;

  let sheet = null;
  function adoptStyles(root) {
    try {
      if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(STYLES); }
      root.adoptedStyleSheets = [sheet];
    } catch (_) { // very old engines: a <style> in the shadow root (needs a CSP that allows it)
      const st = document.createElement('style');
      st.textContent = STYLES;
      root.append(st);
    }
  }

  // h('tag', {attr: value, class, text, onclick}, ...children) — children strings become text nodes.
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = String(v);
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(3)) if (kid != null && kid !== false) el.append(kid);
    return el;
  }
  const ICONS = {
    chat: 'M4 5h16v11H10l-5 4v-4H4z',
    close: 'M6 6l12 12M18 6L6 18',
    send: 'M5 12h13M12 5l7 7-7 7',
    stop: 'M7 7h10v10H7z',
    plus: 'M12 5v14M5 12h14',
    retry: 'M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7',
    thumb: 'M7 11v9H4v-9zM7 11l4-8c1.6 0 2.6 1.2 2.3 2.8L12.7 10H19a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 17.8 20H7',
  };
  function icon(name, cls) {
    const s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    if (cls) s.setAttribute('class', cls);
    const p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', ICONS[name]);
    s.append(p);
    return s;
  }
  const truthy = (v) => v != null && /^(|1|true|yes|open)$/i.test(String(v).trim());

  // Pick black or white text for a given accent colour (WCAG contrast).
  function textOn(color) {
    try {
      const c = document.createElement('canvas').getContext('2d');
      c.fillStyle = '#000'; c.fillStyle = color;
      const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c.fillStyle);
      if (!m) return '#fff';
      const lum = [m[1], m[2], m[3]].map((x) => {
        const v = parseInt(x, 16) / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      const L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
      return (1.05 / (L + 0.05)) >= ((L + 0.05) / 0.05) ? '#fff' : '#111';
    } catch (_) { return '#fff'; }
  }

  class HttpError extends Error {
    constructor(kind, message, retryAfter) { super(message); this.kind = kind; this.retryAfter = retryAfter; }
  }

  async function errorFromResponse(res) {
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    const serverMsg = body && body.error && typeof body.error.message === 'string' ? body.error.message : '';
    if (res.status === 429) {
      let secs = parseInt(res.headers.get('Retry-After') || '', 10);
      if (!(secs >= 0)) {
        const when = Date.parse(res.headers.get('Retry-After') || '');
        secs = when ? Math.max(1, Math.ceil((when - Date.now()) / 1000)) : NaN;
      }
      if (!(secs >= 0) && body && body.error && body.error.retry_after) secs = parseInt(body.error.retry_after, 10);
      const wait = secs >= 0 ? (secs <= 1 ? 'a second' : secs < 120 ? secs + ' seconds' : Math.ceil(secs / 60) + ' minutes') : 'a minute';
      return new HttpError('rate', 'Stride is getting a lot of questions right now. Please wait ' + wait + ' and try again.', secs);
    }
    if (res.status === 503 && serverMsg) return new HttpError('server', serverMsg);
    if (res.status >= 500) return new HttpError('server', 'Sorry, Stride had a problem on its side and couldn\u2019t answer. Please try again in a moment.');
    return new HttpError('client', serverMsg || 'Stride couldn\u2019t read that question. Please rephrase it and try again.');
  }

  // Minimal SSE reader over fetch's ReadableStream: calls on(eventName, parsedJSON).
  async function readSSE(body, on) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const dispatch = (block) => {
      let ev = 'message';
      const data = [];
      for (const line of block.split(/\r\n|\r|\n/)) {
        if (!line || line[0] === ':') continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'event') ev = val;
        else if (field === 'data') data.push(val);
      }
      if (!data.length) return;
      let parsed;
      try { parsed = JSON.parse(data.join('\n')); } catch (_) { return; }
      on(ev, parsed);
    };
    for (;;) {
      const { value, done } = await reader.read();
      buf += dec.decode(value || new Uint8Array(), { stream: !done });
      let m;
      while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buf))) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        dispatch(block);
      }
      if (done) break;
    }
    if (buf.trim()) dispatch(buf);
  }

  let uid = 0;

  class StrideChat extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: 'open' });
      this._built = false;
    }

    connectedCallback() {
      if (this._built) return;
      this._built = true;
      const d = Object.assign({}, SCRIPT_DATA, this.dataset);
      let base;
      try { base = new URL(d.strideApi || '/', SCRIPT_SRC); } catch (_) { base = new URL('/', location.href); }
      if (!base.pathname.endsWith('/')) base.pathname += '/';
      base.hash = ''; base.search = '';
      this.base = base;
      this.title_ = (d.title || 'Ask about hip pain').slice(0, 80);
      this.inline = this.hasAttribute('data-inline');
      this.left = (d.position || '').toLowerCase() === 'bottom-left';
      this.key = 'stride-chat:v1:' + base.href;
      this.id_ = 'sc' + (++uid);
      const accent = d.accent;
      if (accent && window.CSS && CSS.supports('color', accent)) {
        this.style.setProperty('--accent', accent);
        this.style.setProperty('--accent-fg', textOn(accent));
      }
      const saved = this.load();
      this.msgs = saved.msgs;
      this.ctl = null;
      this.nodes = new WeakMap();
      this.build();
      this.renderAll();
      if (this.inline || saved.open || truthy(d.open) || truthy(d.openByDefault)) this.open(false);
    }

    url(path) { return new URL(path, this.base).href; }

    load() {
      try {
        const raw = sessionStorage.getItem(this.key);
        const s = raw ? JSON.parse(raw) : null;
        if (s && Array.isArray(s.msgs)) {
          for (const m of s.msgs) if (m.status === 'streaming') m.status = 'stopped';
          return { msgs: s.msgs.filter((m) => m && typeof m.role === 'string'), open: !!s.open };
        }
      } catch (_) { /* storage blocked or corrupt */ }
      return { msgs: [], open: false };
    }

    save() {
      try {
        sessionStorage.setItem(this.key, JSON.stringify({ msgs: this.msgs.slice(-100), open: !this.inline && this.isOpen() }));
      } catch (_) { /* storage full or blocked: keep working in memory */ }
    }

    build() {
      const id = this.id_;
      const root = this.shadowRoot;
      adoptStyles(root);
      this.launcher = h('button', { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': id + '-panel', onclick: () => (this.isOpen() ? this.close() : this.open(true)) },
        icon('chat'), h('span', { text: this.title_ }));
      this.alertSlot = h('div', { class: 'alert-slot', role: 'alert' });
      this.intro = h('p', { class: 'intro', text: 'Ask about hip pain when running. Answers are quoted from five running and physiotherapy articles, with a numbered link to each source.' });
      this.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Conversation', tabindex: '0' });
      this.status = h('div', { class: 'sr', role: 'status' });
      // A quiet standing disclaimer until the first answer brings the server's own.
      this.foot = h('p', { class: 'foot', text: 'Stride quotes published articles; it is not a substitute for a clinician.' });
      this.input = h('textarea', { id: id + '-q', rows: '1', maxlength: String(MAX_CHARS), placeholder: 'Ask a question\u2026', autocomplete: 'off', enterkeyhint: 'send' });
      this.input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
      });
      this.sendBtn = h('button', { class: 'send', type: 'submit', 'aria-label': 'Send question' }, icon('send'));
      this.stopBtn = h('button', { class: 'send', type: 'button', 'aria-label': 'Stop answering', hidden: true, onclick: () => this.stop() }, icon('stop', 'fill'));
      const form = h('form', { onsubmit: (e) => { e.preventDefault(); this.submit(); } },
        h('label', { class: 'sr', for: id + '-q', text: 'Your question' }), this.input, this.sendBtn, this.stopBtn);
      const header = h('header', null,
        h('h2', { id: id + '-title', text: this.title_ }),
        h('button', { class: 'icon', type: 'button', 'aria-label': 'New conversation', title: 'New conversation', onclick: () => this.reset() }, icon('plus')),
        this.inline ? null : h('button', { class: 'icon', type: 'button', 'aria-label': 'Close chat', title: 'Close', onclick: () => this.close() }, icon('close')));
      this.panel = h('section', { class: 'panel', id: id + '-panel', role: this.inline ? 'region' : 'dialog', 'aria-labelledby': id + '-title', hidden: true },
        header, this.alertSlot, this.intro, this.log, this.status, form,
        this.foot);
      this.panel.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && !this.inline) { e.stopPropagation(); this.close(); }
        else if (e.key === 'Tab' && !this.inline && matchMedia('(max-width: 767.98px)').matches) this.wrapFocus(e);
      });
      this.wrap = h('div', { class: 'root' + (this.left ? ' left' : '') + (this.inline ? ' inline' : '') }, this.inline ? null : this.launcher, this.panel);
      root.append(this.wrap);
    }

    isOpen() { return !this.panel.hidden; }

    // Full-screen on small screens: keep Tab inside the panel so focus never lands on hidden page content.
    wrapFocus(e) {
      const all = Array.from(this.panel.querySelectorAll('button,textarea,a[href],[tabindex="0"]'))
        .filter((el) => !el.disabled && el.getClientRects().length > 0);
      if (!all.length) return;
      const first = all[0];
      const last = all[all.length - 1];
      const active = this.shadowRoot.activeElement;
      if (e.shiftKey && active === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && active === last) { e.preventDefault(); first.focus(); }
    }

    open(focus) {
      this.panel.hidden = false;
      this.launcher.setAttribute('aria-expanded', 'true');
      this.scrollDown(true);
      if (focus) this.input.focus();
      this.save();
    }

    close() {
      if (this.inline) return;
      this.panel.hidden = true;
      this.launcher.setAttribute('aria-expanded', 'false');
      this.launcher.focus();
      this.save();
    }

    announce(text) {
      this.status.textContent = '';
      setTimeout(() => { this.status.textContent = text; }, 50);
    }

    reset() {
      if (this.ctl) { this.ctl.abort(); this.ctl = null; this.setBusy(false); }
      this.msgs = [];
      this.save();
      this.renderAll();
      this.input.value = '';
      this.input.focus();
      this.announce('New conversation started.');
    }

    stop() { if (this.ctl) { this.stopped = true; this.ctl.abort(); } }

    setBusy(busy) {
      const hadFocus = this.shadowRoot.activeElement;
      this.sendBtn.hidden = busy;
      this.stopBtn.hidden = !busy;
      if (busy && hadFocus === this.sendBtn) this.stopBtn.focus();
      if (!busy && hadFocus === this.stopBtn) this.input.focus();
    }

    submit() {
      if (this.ctl) return;
      const text = this.input.value.trim().slice(0, MAX_CHARS);
      if (!text) { this.input.focus(); return; }
      this.input.value = '';
      // a previous error/stopped attempt is superseded by the new question
      for (const m of this.msgs.slice()) if (m.role === 'error') this.drop(m);
      this.push({ role: 'user', content: text });
      this.ask();
    }

    retry() {
      // drop the error (or an unfinished answer) after the last question, then ask again
      while (this.msgs.length && this.msgs[this.msgs.length - 1].role !== 'user') this.drop(this.msgs[this.msgs.length - 1]);
      if (!this.msgs.length) return;
      this.input.focus();
      this.ask();
    }

    payload() {
      const out = [];
      for (const m of this.msgs) {
        if (m.role === 'user' || (m.role === 'assistant' && m.status === 'done' && m.content)) {
          out.push({ role: m.role, content: String(m.content).slice(0, MAX_CHARS) });
        }
      }
      let list = out.slice(-MAX_MSGS);
      while (list.length > 1 && list[0].role !== 'user') list = list.slice(1);
      return list;
    }

    async ask() {
      const bot = { role: 'assistant', content: '', citations: [], safety: null, status: 'streaming' };
      const node = this.push(bot);
      const ctl = new AbortController();
      this.ctl = ctl;
      this.stopped = false;
      let timedOut = false;
      let idle = 0;
      const kick = () => { clearTimeout(idle); idle = setTimeout(() => { timedOut = true; ctl.abort(); }, IDLE_MS); };
      this.setBusy(true);
      kick();
      try {
        const res = await fetch(this.url('api/chat'), {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
          body: JSON.stringify({ messages: this.payload(), stream: true }),
          signal: ctl.signal,
        });
        if (!res.ok) throw await errorFromResponse(res);
        const type = res.headers.get('content-type') || '';
        if (res.body && type.indexOf('text/event-stream') >= 0) {
          await readSSE(res.body, (ev, data) => {
            kick();
            if (ev === 'safety' && data && typeof data === 'object') { bot.safety = data; this.paint(bot, node); }
            else if (ev === 'citations' && Array.isArray(data)) { bot.citations = data; }
            else if (ev === 'delta' && data && typeof data.text === 'string') { bot.content += data.text; this.paintSoon(bot, node); }
            else if (ev === 'done' && data && typeof data === 'object') { this.finish(bot, data); }
            else if (ev === 'error') throw new HttpError('server', 'Sorry, Stride ran into a problem while answering. Please try again.');
          });
        } else {
          this.finish(bot, await res.json());
        }
        if (bot.status !== 'done') throw new HttpError('cut', 'The answer was cut off before it finished. Please try again.');
        this.paint(bot, node, true);
        this.sync();
        this.follow(node);
      } catch (e) {
        if (!this.msgs.includes(bot)) return; // the conversation was reset meanwhile
        if (this.stopped && !timedOut) {
          bot.status = 'stopped';
          if (bot.content) this.paint(bot, node); else this.drop(bot);
          this.push({ role: 'error', kind: 'stopped', content: 'You stopped the answer.' });
        } else {
          this.drop(bot);
          let err = e;
          if (timedOut) err = new HttpError('timeout', 'Stride is taking too long to answer. Please try again.');
          else if (!(e instanceof HttpError)) err = new HttpError('network', 'Stride can\u2019t be reached right now. Check your internet connection and try again.');
          this.push({ role: 'error', kind: err.kind, content: err.message });
        }
      } finally {
        clearTimeout(idle);
        ctl.abort();
        if (this.ctl === ctl) { this.ctl = null; this.setBusy(false); }
        this.save();
      }
    }

    finish(bot, data) {
      bot.id = typeof data.id === 'string' ? data.id : null;
      bot.content = typeof data.answer === 'string' ? data.answer : bot.content;
      bot.citations = Array.isArray(data.citations) ? data.citations : bot.citations;
      bot.safety = data.safety && typeof data.safety === 'object' ? data.safety : bot.safety;
      bot.abstained = !!data.abstained;
      bot.disclaimer = typeof data.disclaimer === 'string' ? data.disclaimer : '';
      bot.status = 'done';
    }

    // ---------- rendering ----------
    renderAll(scroll) {
      this.log.textContent = '';
      this.sync();
      this.renderAlert(false);
      for (const m of this.msgs) this.log.append(this.node(m));
      this.scrollDown(scroll);
    }

    // Append one message (only new nodes are added to the role=log region, so only they are announced).
    push(m) {
      this.msgs.push(m);
      const n = this.node(m);
      this.log.append(n);
      this.sync();
      this.scrollDown(true);
      return n;
    }

    drop(m) {
      const i = this.msgs.indexOf(m);
      if (i >= 0) this.msgs.splice(i, 1);
      const n = this.nodes.get(m);
      if (n) n.remove();
      this.sync();
    }

    renderAlert(fresh) {
      let em = null;
      for (const m of this.msgs) if (m.role === 'assistant' && m.safety && m.safety.level === 'emergency') em = m;
      if (!em) { this.alertSlot.textContent = ''; this._alerted = null; return; }
      if (this.alertSlot.firstChild && !fresh) return;
      this._alerted = em;
      this.alertSlot.textContent = '';
      this.alertSlot.append(h('div', { class: 'emergency' },
        h('strong', { text: 'Emergency: get medical help now.' }),
        h('p', { text: em.safety.message || FALLBACK_EMERGENCY })));
    }

    scrollDown(force) {
      const l = this.log;
      if (force || l.scrollHeight - l.scrollTop - l.clientHeight < 80) l.scrollTop = l.scrollHeight;
    }

    node(m) {
      const n = this.makeNode(m);
      this.nodes.set(m, n);
      return n;
    }

    sync() {
      this.intro.hidden = this.msgs.length > 0;
      this.foot.hidden = this.msgs.some((m) => m.role === 'assistant' && m.disclaimer);
    }

    // Keep a growing answer in view, but never scroll its first line out of sight.
    follow(n) {
      const l = this.log;
      l.scrollTop = Math.max(0, Math.min(l.scrollHeight - l.clientHeight, n.offsetTop - 8));
    }

    makeNode(m) {
      if (m.role === 'user') {
        return h('div', { class: 'msg user' }, h('span', { class: 'sr', text: 'You: ' }), m.content);
      }
      if (m.role === 'error') {
        return h('div', { class: 'msg err' }, h('p', { text: m.content }),
          h('button', { class: 'btn', type: 'button', onclick: () => this.retry() }, icon('retry'), 'Try again'));
      }
      const n = h('div', { class: 'msg bot' });
      this.paint(m, n);
      return n;
    }

    paintSoon(m, n) {
      if (this._raf) return;
      this._raf = requestAnimationFrame(() => { this._raf = 0; this.paint(m, n); this.follow(n); });
    }

    paint(m, n, final) {
      const level = (m.safety && m.safety.level) || 'none';
      const emergency = level === 'emergency';
      n.className = 'msg bot' + (m.abstained ? ' abstained' : '') + ' level-' + level;
      n.setAttribute('aria-busy', m.status === 'streaming' ? 'true' : 'false');
      const keepOpen = new Set(Array.from(n.querySelectorAll('.cite[aria-expanded=true]')).map((b) => b.dataset.cid));
      n.textContent = '';
      n.append(h('span', { class: 'sr', text: 'Stride: ' }));
      if (emergency) {
        // Nothing but the safety message: no self-care text, no citations.
        n.append(h('div', { class: 'safety safety-emergency' }, h('strong', { text: 'Emergency:' }), m.safety.message || FALLBACK_EMERGENCY));
        if (this._alerted !== m) { this._alerted = m; this.renderAlert(true); }
      } else {
        if (level === 'urgent' || level === 'see_doctor') {
          n.append(h('div', { class: 'safety safety-' + level },
            h('strong', { text: level === 'urgent' ? 'Urgent \u2014 get seen today:' : 'See a doctor:' }),
            m.safety.message || (level === 'urgent' ? 'Please get medical advice today.' : 'Please see a doctor or physiotherapist about this.')));
        }
        if (m.status === 'streaming' && !m.content) {
          n.append(h('p', { class: 'status' }, 'Looking through the articles', h('span', { class: 'typing', 'aria-hidden': 'true' }, h('i'), h('i'), h('i'))));
        }
        const notes = h('div', { class: 'notes' });
        n.append(h('div', { class: 'body' }, this.formatAnswer(m, notes)), notes);
        if (m.status === 'stopped') n.append(h('p', { class: 'status', text: '(Stopped before the answer was finished.)' }));
        for (const cid of keepOpen) {
          const b = n.querySelector('.cite[data-cid="' + CSS.escape(cid) + '"]');
          if (b) b.click();
        }
      }
      if (m.status === 'done') {
        if (m.disclaimer) n.append(h('p', { class: 'disclaimer', text: m.disclaimer }));
        if (m.id) n.append(this.feedback(m));
      }
    }

    formatAnswer(m, notes) {
      const frag = document.createDocumentFragment();
      const cites = Array.isArray(m.citations) ? m.citations : [];
      let list = null;
      for (const raw of String(m.content || '').split('\n')) {
        if (!raw.trim()) { list = null; continue; }
        const li = /^\s*[-\u2022*]\s+(.*)$/.exec(raw);
        if (li) {
          if (!list) { list = h('ul'); frag.append(list); }
          list.append(h('li', null, this.inlineText(li[1], cites, m, notes)));
        } else {
          list = null;
          frag.append(h('p', null, this.inlineText(raw.trim(), cites, m, notes)));
        }
      }
      return frag;
    }

    inlineText(s, cites, m, notes) {
      const out = [];
      let last = 0;
      const re = /\[(\d{1,3})\]/g;
      let mt;
      while ((mt = re.exec(s))) {
        const c = cites.find((x) => x && String(x.id) === mt[1]);
        if (!c) continue;
        out.push(s.slice(last, mt.index), this.citeButton(c, m, notes));
        last = mt.index + mt[0].length;
      }
      out.push(s.slice(last));
      return out;
    }

    citeButton(c, m, notes) {
      const nid = this.id_ + '-n' + (++uid);
      const label = 'Source ' + c.id + (c.title ? ': ' + c.title : '');
      const b = h('button', { class: 'cite', type: 'button', 'aria-expanded': 'false', 'aria-controls': nid, 'aria-label': label, 'data-cid': String(c.id), text: String(c.id) });
      b.addEventListener('click', () => {
        const existing = notes.querySelector('[data-for="' + CSS.escape(String(c.id)) + '"]');
        const opening = !existing;
        if (existing) existing.remove();
        else notes.append(this.footnote(c, nid));
        const scope = notes.parentNode || notes;
        for (const other of scope.querySelectorAll('.cite[data-cid="' + CSS.escape(String(c.id)) + '"]')) {
          other.setAttribute('aria-expanded', String(opening));
          if (opening) other.setAttribute('aria-controls', nid);
        }
      });
      return b;
    }

    footnote(c, nid) {
      let href = null;
      try {
        const u = new URL(String(c.url || ''), this.base);
        if (u.protocol === 'https:' || u.protocol === 'http:') href = u.href;
      } catch (_) { /* no link */ }
      const who = [c.publisher, c.section ? 'section \u201c' + c.section + '\u201d' : ''].filter(Boolean).join(', ');
      return h('div', { class: 'note', id: nid, 'data-for': String(c.id), role: 'group', 'aria-label': 'Source ' + c.id },
        h('p', null, h('span', { 'aria-hidden': 'true', text: '[' + c.id + '] ' }), h('cite', { text: c.title || 'Untitled article' }), who ? ' \u2014 ' + who : ''),
        c.quote ? h('blockquote', { text: '\u201c' + c.quote + '\u201d' }) : null,
        href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, 'Read the passage in the article', h('span', { class: 'sr', text: ' (opens in a new tab)' })) : null);
    }

    feedback(m) {
      const status = h('span', { class: 'fbstatus', role: 'status' });
      const up = h('button', { class: 'icon', type: 'button', 'aria-label': 'Helpful', title: 'Helpful', 'aria-pressed': String(m.rating === 'up') }, icon('thumb'));
      const down = h('button', { class: 'icon', type: 'button', 'aria-label': 'Not helpful', title: 'Not helpful', 'aria-pressed': String(m.rating === 'down') }, icon('thumb', 'flip'));
      const box = h('div', { class: 'meta' }, h('span', { text: 'Was this helpful?' }), up, down, status);
      const send = async (rating, comment) => {
        m.rating = rating;
        up.setAttribute('aria-pressed', String(rating === 'up'));
        down.setAttribute('aria-pressed', String(rating === 'down'));
        this.save();
        const body = { message_id: m.id, rating };
        if (comment) body.comment = comment.slice(0, 1000);
        try {
          const r = await fetch(this.url('api/feedback'), { method: 'POST', mode: 'cors', credentials: 'omit', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
          status.textContent = r.ok ? 'Thanks for your feedback.' : 'Sorry, your feedback could not be sent.';
        } catch (_) {
          status.textContent = 'Sorry, your feedback could not be sent.';
        }
      };
      up.addEventListener('click', () => { const f = box.querySelector('.fbform'); if (f) f.remove(); send('up'); });
      down.addEventListener('click', () => {
        if (box.querySelector('.fbform')) return;
        const fid = this.id_ + '-fb' + (++uid);
        const ta = h('textarea', { id: fid, rows: '2', maxlength: '1000' });
        const form = h('form', { class: 'fbform', onsubmit: (e) => { e.preventDefault(); form.remove(); send('down', ta.value.trim()); down.focus(); } },
          h('label', { for: fid, text: 'What was wrong or missing? (optional)' }), ta,
          h('button', { class: 'btn', type: 'submit', text: 'Send feedback' }));
        box.append(form);
        down.setAttribute('aria-pressed', 'true');
        ta.focus();
      });
      return box;
    }
  }

  customElements.define(TAG, StrideChat);

  // Auto-mount one widget from the <script> tag's data- attributes.
  function mount() {
    if (!script || script.hasAttribute('data-no-mount')) return;
    const el = document.createElement(TAG);
    const sel = SCRIPT_DATA.target;
    let host = null;
    if (sel) { try { host = document.querySelector(sel); } catch (_) { host = null; } }
    if (host) { el.setAttribute('data-inline', ''); host.append(el); }
    else document.body.append(el);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mount, { once: true });
  else mount();
})();
