// The evidence search page. Plain JavaScript, no build step, no dependencies.
// The page's state lives in the query string (/?q=asthma&evidence_level=guideline&page=2): it is
// read on load and on back/forward, and every change pushes a new history entry, so any view can
// be shared. The page never parses HTML strings (the CSP enforces Trusted Types): highlighted
// titles and snippets, which the API sends HTML-escaped with <mark>, become text and <mark> nodes.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const RESOLVER = body.dataset.linkResolver || '';
  const MAX_EXPORT = body.dataset.maxExport || '1000';
  let LEVELS = [];
  try { LEVELS = JSON.parse(body.dataset.levels || '[]'); } catch (_) { LEVELS = []; }
  const LABEL = Object.fromEntries(LEVELS);
  // The parameters that make a search; anything else in the URL is ignored.
  const KEYS = ['q', 'evidence_level', 'year_from', 'year_to', 'source', 'audience', 'open_access',
    'reading_grade_max', 'sort', 'per_page', 'federate'];
  const MULTI = ['evidence_level', 'source'];
  const JOURNAL_LEVELS = ['systematic_review', 'rct', 'observational', 'case_report', 'opinion'];
  const WINDOW = 10000;
  const ui = {
    form: $('search'), q: $('q'), filters: $('filters'), toggle: $('refine-toggle'),
    h1: $('results-h'), status: $('status'), notices: $('notices'), info: $('query-info'),
    sources: $('sources'), intro: $('intro'), results: $('results'), pager: $('pager'),
    active: $('active'), exports: $('exports'), exportsHint: $('exports-hint'), feedLink: $('feed-link'),
  };

  // Builds an element; strings among the children become text nodes, never HTML.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
    return e;
  }

  const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  function decode(s) {
    return s.replace(/<[^>]*>/g, '').replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
      if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m;
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return n > 0 && n < 0x110000 ? String.fromCodePoint(n) : m;
    });
  }
  // Escaped text with <mark> highlights -> a fragment of text and <mark> nodes.
  function marked(html) {
    const s = String(html || '');
    const frag = document.createDocumentFragment();
    const re = /<mark>([\s\S]*?)<\/mark>/g;
    let last = 0, m;
    while ((m = re.exec(s))) {
      if (m.index > last) frag.append(decode(s.slice(last, m.index)));
      frag.append(el('mark', null, decode(m[1])));
      last = re.lastIndex;
    }
    if (last < s.length) frag.append(decode(s.slice(last)));
    return frag;
  }

  const state = () => new URLSearchParams(location.search);
  const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
  function apiParams(p, drop) {
    const out = new URLSearchParams();
    for (const [k, v] of p) if ((KEYS.includes(k) || k === 'page') && v !== '' && !(drop || []).includes(k)) out.append(k, v);
    return out;
  }
  const isSearch = (p) => KEYS.some((k) => (p.get(k) || '') !== '' && k !== 'sort' && k !== 'per_page');
  // Query strings keep list commas readable: ?evidence_level=guideline,rct.
  const qs = (p) => p.toString().replace(/%2C/gi, ',');
  const pageUrl = (p) => { const s = qs(p); return s ? '/?' + s : '/'; };

  async function getJSON(url, signal) {
    const r = await fetch(url, { signal, headers: { Accept: 'application/json' } });
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.error && data.error.message) || 'the server answered ' + r.status);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  // ---- Controls <-> URL.
  function sync(p) {
    if (document.activeElement !== ui.q) ui.q.value = p.get('q') || '';
    for (const input of document.querySelectorAll('[data-param]')) {
      const k = input.dataset.param;
      if (input.type === 'checkbox') {
        input.checked = MULTI.includes(k) ? list(p.getAll(k).join(',')).includes(input.value) : p.get(k) === input.dataset.on;
      } else if (input.tagName === 'SELECT') {
        input.value = p.get(k) || input.options[0].value;
      } else if (document.activeElement !== input) {
        input.value = p.get(k) || '';
      }
    }
  }

  function options(fieldset, param, counts, selected, labelOf) {
    const ul = fieldset.querySelector('ul');
    const focused = document.activeElement && document.activeElement.id;
    ul.replaceChildren();
    for (const { value, count } of counts) {
      const id = param + '-' + value.replace(/[^A-Za-z0-9_-]/g, '_');
      const box = el('input', { type: 'checkbox', id, value, 'data-param': param, checked: selected.includes(value) });
      const label = el('label', { for: id }, labelOf(value) + ' ', count === null ? null : el('span', { class: 'n' }, '(' + count + ')'));
      ul.append(el('li', { class: 'check' }, box, label));
    }
    fieldset.hidden = counts.length === 0;
    if (focused && document.getElementById(focused) && document.activeElement === body) document.getElementById(focused).focus();
  }

  function facetOptions(p, facets, levelCounts, sourceCounts) {
    const chosenLevels = list(p.getAll('evidence_level').join(','));
    const lc = new Map(((levelCounts || (facets && facets.evidence_level)) || []).map((f) => [f.value, f.count]));
    const levels = LEVELS.map(([v]) => v)
      .filter((v) => !facets || (lc.get(v) || 0) > 0 || chosenLevels.includes(v))
      .map((v) => ({ value: v, count: facets ? lc.get(v) || 0 : null }));
    options($('f-level'), 'evidence_level', levels, chosenLevels, (v) => LABEL[v] || v);
    const chosenSources = list(p.getAll('source').join(','));
    const sc = ((sourceCounts || (facets && facets.source)) || []).slice();
    for (const s of chosenSources) if (!sc.some((f) => f.value === s)) sc.push({ value: s, count: 0 });
    options($('f-source'), 'source', sc, chosenSources, (v) => v);
    const oa = facets && (facets.open_access || []).find((f) => f.value === 'yes');
    $('oa-n').textContent = oa ? '(' + oa.count + ')' : '';
    const years = ((facets && facets.year) || []).map((f) => Number(f.value)).filter((y) => y > 999);
    $('year_from').placeholder = years.length ? String(Math.min(...years)) : '';
    $('year_to').placeholder = years.length ? String(Math.max(...years)) : '';
  }

  // ---- Links for a hit.
  function openUrl(h) {
    if (!RESOLVER) return null;
    const ids = h.identifiers || {};
    const q = new URLSearchParams();
    q.append('url_ver', 'Z39.88-2004');
    q.append('url_ctx_fmt', 'info:ofi/fmt:kev:mtx:ctx');
    q.append('ctx_ver', 'Z39.88-2004');
    q.append('rfr_id', 'info:sid/evidence-search');
    if (h.journal && JOURNAL_LEVELS.includes(h.evidence_level)) {
      q.append('rft_val_fmt', 'info:ofi/fmt:kev:mtx:journal');
      q.append('rft.genre', 'article');
      q.append('rft.atitle', h.title);
      q.append('rft.jtitle', h.journal);
    } else {
      q.append('rft_val_fmt', 'info:ofi/fmt:kev:mtx:book');
      q.append('rft.genre', 'report');
      q.append('rft.btitle', h.title);
      if (h.journal) q.append('rft.pub', h.journal);
    }
    if (h.published) q.append('rft.date', h.published);
    if (h.authors && h.authors[0]) q.append('rft.au', h.authors[0]);
    if (ids.doi) q.append('rft_id', 'info:doi/' + ids.doi);
    if (ids.pmid) q.append('rft_id', 'info:pmid/' + ids.pmid);
    return RESOLVER + (RESOLVER.includes('?') ? '&' : '?') + q.toString();
  }

  function links(h) {
    const ids = h.identifiers || {};
    const out = [];
    const add = (href, text, label) => out.push(el('li', null, el('a', { href, 'aria-label': label }, text)));
    if (ids.doi) add('https://doi.org/' + ids.doi, 'DOI ' + ids.doi, null);
    if (ids.pmid) add('https://pubmed.ncbi.nlm.nih.gov/' + encodeURIComponent(ids.pmid) + '/', 'PubMed ' + ids.pmid, null);
    if (ids.pmcid) add('https://pmc.ncbi.nlm.nih.gov/articles/' + encodeURIComponent(ids.pmcid) + '/', 'PMC ' + ids.pmcid, null);
    if (ids.nct) add('https://clinicaltrials.gov/study/' + encodeURIComponent(ids.nct), 'Trial ' + ids.nct, null);
    const ou = openUrl(h);
    if (ou) add(ou, 'Full text via your library', 'Full text via your library: ' + h.title);
    return out.length ? el('ul', { class: 'links' }, ...out) : null;
  }

  function safeHref(u) { return /^https?:\/\//i.test(u || '') ? u : null; }

  function hit(h, i) {
    const ids = h.identifiers || {};
    const href = safeHref(h.url) || (ids.doi && 'https://doi.org/' + ids.doi) ||
      (ids.pmid && 'https://pubmed.ncbi.nlm.nih.gov/' + encodeURIComponent(ids.pmid) + '/') ||
      '/api/v1/records/' + encodeURIComponent(h.id);
    const flags = el('p', { class: 'flags' },
      el('span', { class: 'badge lvl-' + String(h.evidence_level).replace(/[^a-z_]/g, '') }, h.evidence_label || LABEL[h.evidence_level] || h.evidence_level));
    const flag = (cls, text) => flags.append(' ', el('span', { class: 'flag ' + cls }, text));
    if (h.retracted) flag('f-retracted', 'Retracted');
    if (h.superseded_by) flag('f-superseded', 'Superseded');
    if (h.sample) flag('f-sample', 'Sample, not evidence');
    if (h.by_meaning_only) flag('f-meaning', 'Related by meaning: none of your words');
    if (h.audience === 'patient') flag('f-patient', 'For patients');
    if (h.open_access) flag('f-oa', 'Free full text');
    // The highlighted title is used only if it reads exactly as the plain title.
    const hl = marked(h.title_html);
    const title = el('a', { href }, hl.textContent === h.title ? hl : h.title);
    const meta = [h.source, h.journal, h.published && h.published.slice(0, 4)].filter(Boolean).join(' · ');
    const grade = typeof h.reading_grade === 'number' && isFinite(h.reading_grade)
      ? 'Reading grade ' + Math.max(0, Math.round(h.reading_grade)) + (h.reading_grade <= 8 ? ' (plain language)' : '') : null;
    const authors = (h.authors || []).length > 3 ? h.authors.slice(0, 3).join(', ') + ' et al.' : (h.authors || []).join(', ');
    const warn = [];
    if (h.retracted) warn.push(el('p', { class: 'warn' }, el('strong', null, 'Retracted: '), 'the publisher has withdrawn this article. Do not rely on it.'));
    if (h.superseded_by) {
      warn.push(el('p', { class: 'warn warn-old' }, el('strong', null, 'Superseded: '), 'a newer version replaces this guidance. ',
        el('a', { href: '/api/v1/records/' + encodeURIComponent(h.superseded_by) }, 'See the newer version')));
    }
    const cls = 'hit' + (h.retracted ? ' is-retracted' : '') + (h.superseded_by ? ' is-superseded' : '') + (h.sample ? ' is-sample' : '');
    return el('li', { class: cls, 'data-id': h.id },
      el('article', { 'aria-labelledby': 'hit-' + i },
        el('h2', { id: 'hit-' + i }, title),
        flags,
        ...warn,
        el('p', { class: 'meta' }, meta, grade ? el('span', { class: 'grade' }, ' · ' + grade) : null),
        authors ? el('p', { class: 'authors' }, authors) : null,
        h.snippet ? el('p', { class: 'snippet' }, marked(h.snippet)) : null,
        links(h)));
  }

  // ---- Everything around the hits.
  function noticeKind(text) {
    if (/sample/i.test(text)) return ['n-sample', 'Sample data'];
    if (/retract/i.test(text)) return ['n-retracted', 'Retracted results'];
    if (/newer version|supersed/i.test(text)) return ['n-superseded', 'Out-of-date guidance'];
    return ['n-info', 'Note'];
  }

  function queryInfo(p, data) {
    const out = [];
    const dym = data.did_you_mean;
    const suggestion = typeof dym === 'string' ? dym : dym && (dym.q || dym.query || dym.text);
    if (suggestion) {
      const s = new URLSearchParams(p);
      s.set('q', suggestion);
      s.delete('page');
      out.push(el('p', { class: 'dym' }, 'Did you mean ', el('a', { href: pageUrl(s) }, el('strong', null, suggestion)), '?'));
    }
    const q = data.query || {};
    if (q.identifier && q.identifier.kind) out.push(el('p', null, 'Looked up ' + q.identifier.kind.toUpperCase() + ' ' + q.identifier.value + '.'));
    // Spelling variants and synonyms are worth telling; statistical expansions are not.
    const ex = (q.expansions || []).filter((e) => /spelling|synonym/i.test(e.reason || ''))
      .map((e) => (e.variants || []).join(', ') + ' for ' + e.term + ' (' + e.reason + ')');
    if (ex.length) out.push(el('p', null, 'Also searched for ' + ex.join('; ') + '.'));
    for (const w of q.warnings || []) out.push(el('p', null, 'Note: ' + w));
    ui.info.replaceChildren(...out);
  }

  function sourceStatuses(data) {
    let src = data.sources;
    if (src && !Array.isArray(src) && typeof src === 'object') src = Object.entries(src).map(([name, s]) => Object.assign({ name }, s));
    if (!Array.isArray(src) || !src.length) { ui.sources.replaceChildren(); return; }
    const items = src.map((s) => {
      const name = s.name || s.source || 'source';
      const status = String(s.status || (s.error ? 'error' : 'ok'));
      const n = s.total ?? s.count ?? s.hits;
      let text = name + ': ';
      if (status === 'ok') text += (typeof n === 'number' ? n + ' results' : 'answered');
      else text += status.replace(/_/g, ' ') + (s.error || s.message ? ' (' + (s.error || s.message) + ')' : '');
      if (typeof s.took_ms === 'number') text += ', ' + s.took_ms + ' ms';
      return el('li', { class: status === 'ok' ? 's-ok' : 's-bad' }, text);
    });
    ui.sources.replaceChildren(el('section', { class: 'sources', 'aria-labelledby': 'sources-h' },
      el('h2', { id: 'sources-h' }, 'Live sources searched'), el('ul', null, ...items)));
  }

  function pager(p, total, page, perPage) {
    const pages = Math.max(1, Math.ceil(Math.min(total, WINDOW) / perPage));
    if (pages <= 1) { ui.pager.replaceChildren(); return; }
    const to = (n, text, label, cls) => {
      const s = new URLSearchParams(p);
      if (n > 1) s.set('page', String(n)); else s.delete('page');
      return el('li', null, el('a', { href: pageUrl(s), 'aria-label': label, class: cls, rel: cls === 'next' ? 'next' : cls === 'prev' ? 'prev' : null }, text));
    };
    const items = [];
    if (page > 1) items.push(to(page - 1, 'Previous', 'Previous page', 'prev'));
    const from = Math.max(1, Math.min(page - 2, pages - 4));
    for (let n = from; n <= Math.min(pages, from + 4); n++) {
      items.push(n === page ? el('li', null, el('span', { 'aria-current': 'page', class: 'current' }, String(n), el('span', { class: 'vh' }, ' (current page)')))
        : to(n, String(n), 'Page ' + n, null));
    }
    if (page < pages) items.push(to(page + 1, 'Next', 'Next page', 'next'));
    ui.pager.replaceChildren(el('ul', null, ...items));
  }

  function exportsFor(p) {
    const base = apiParams(p, ['page', 'per_page']);
    for (const a of ui.exports.querySelectorAll('[data-export]')) {
      const s = new URLSearchParams(base);
      const kind = a.dataset.export;
      if (kind !== 'feed') s.set('format', kind);
      a.href = (kind === 'feed' ? '/api/v1/feed?' : '/api/v1/export?') + qs(s);
    }
    ui.feedLink.href = '/api/v1/feed?' + qs(apiParams(p, ['page', 'per_page', 'sort']));
    ui.exportsHint.textContent = 'Downloads hold up to ' + MAX_EXPORT + ' records in the order shown. The Atom feed lists the 50 newest; add it to a feed reader to be told of new records.';
  }

  // The filters in force, in words, so they show even when the filter panel is folded away.
  function activeFilters(p) {
    const all = (k) => list(p.getAll(k).join(','));
    const out = all('evidence_level').map((v) => LABEL[v] || v);
    for (const v of all('source')) out.push('source ' + v);
    if (p.get('year_from') || p.get('year_to')) out.push('published ' + (p.get('year_from') || '…') + ' to ' + (p.get('year_to') || '…'));
    if (p.get('audience')) out.push(p.get('audience') === 'patient' ? 'patient-friendly information' : 'for ' + p.get('audience') + 's');
    if (p.get('open_access') === 'true') out.push('free full text');
    if (p.get('reading_grade_max')) out.push('reading grade ' + p.get('reading_grade_max') + ' or below');
    return out;
  }

  function showActive(p) {
    const active = activeFilters(p);
    const clear = new URLSearchParams();
    for (const k of ['q', 'sort', 'per_page']) if (p.get(k)) clear.set(k, p.get(k));
    $('clear').href = pageUrl(clear);
    ui.toggle.textContent = (ui.toggle.getAttribute('aria-expanded') === 'true' ? 'Hide filters' : 'Show filters') +
      (active.length ? ' (' + active.length + ' on)' : '');
    ui.active.replaceChildren(...(active.length ? ['Filtered to: ' + active.join(', ') + '. ', el('a', { href: pageUrl(clear) }, 'Clear filters')] : []));
  }

  function idle() {
    ui.h1.textContent = 'Find evidence';
    document.title = 'Evidence search';
    for (const n of [ui.status, ui.notices, ui.info, ui.sources, ui.results, ui.pager]) n.replaceChildren();
    showActive(state());
    ui.intro.hidden = false;
    ui.exports.hidden = true;
    facetOptions(state(), null, null, null);
  }

  // ---- Searching.
  let seq = 0;
  let controller = null;
  let retries = 0;
  async function run(focus) {
    const p = state();
    sync(p);
    if (!isSearch(p)) { idle(); return; }
    const my = ++seq;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    ui.intro.hidden = true;
    ui.results.setAttribute('aria-busy', 'true');
    ui.status.className = '';
    ui.status.textContent = 'Searching…';
    const api = apiParams(p);
    const without = (k) => {
      if (!p.get(k)) return null;
      const s = apiParams(p, [k, 'page']);
      s.set('per_page', '1');
      return getJSON('/api/v1/search?' + qs(s), signal).then((d) => d.facets && d.facets[k]).catch(() => null);
    };
    try {
      const [data, levelCounts, sourceCounts] = await Promise.all([
        getJSON('/api/v1/search?' + qs(api), signal), without('evidence_level'), without('source')]);
      if (my !== seq) return;
      retries = 0;
      render(p, data, levelCounts, sourceCounts, focus);
    } catch (err) {
      if (my !== seq || err.name === 'AbortError') return;
      ui.results.removeAttribute('aria-busy');
      if (err.status === 503 && retries < 10) {
        retries++;
        ui.status.textContent = 'The search index is being prepared; trying again in a moment…';
        setTimeout(() => { if (my === seq) run(focus); }, 2000);
        return;
      }
      for (const n of [ui.results, ui.pager, ui.notices, ui.info, ui.sources]) n.replaceChildren();
      ui.exports.hidden = true;
      ui.status.className = 'error';
      ui.status.textContent = 'Search failed: ' + err.message;
    }
  }

  function render(p, data, levelCounts, sourceCounts, focus) {
    const q = p.get('q') || '';
    const total = data.total || 0;
    const page = data.page || 1;
    const perPage = data.per_page || 10;
    const hits = data.hits || [];
    ui.h1.textContent = q ? 'Results for “' + q + '”' : 'Results';
    document.title = (q ? q + ' – ' : '') + 'Evidence search';
    const first = (page - 1) * perPage + 1;
    let status = total === 0 ? 'No results' + (q ? ' for “' + q + '”' : '') + '. Try other words or fewer filters.'
      : total + (total === 1 ? ' result' : ' results') + (q ? ' for “' + q + '”' : '') +
        (total > hits.length ? '; showing ' + first + ' to ' + (first + hits.length - 1) + ' (page ' + page + ')' : '') + '.';
    const notices = data.notices || [];
    if (notices.some((n) => /sample/i.test(n))) status += ' Includes invented sample records, not evidence.';
    ui.status.textContent = status;
    ui.notices.replaceChildren(...notices.map((n) => {
      const [cls, head] = noticeKind(n);
      return el('div', { class: 'notice ' + cls, role: 'note' }, el('strong', null, head + ': '), n);
    }));
    showActive(p);
    queryInfo(p, data);
    sourceStatuses(data);
    ui.results.replaceChildren(...hits.map(hit));
    ui.results.setAttribute('start', String(first));
    ui.results.removeAttribute('aria-busy');
    pager(p, total, page, perPage);
    facetOptions(p, data.facets || {}, levelCounts, sourceCounts);
    exportsFor(p);
    ui.exports.hidden = total === 0;
    if (focus === 'results') ui.h1.focus();
  }

  function go(p, focus) {
    const url = pageUrl(p);
    if (url !== location.pathname + location.search) history.pushState(null, '', url);
    run(focus);
  }

  // ---- Events.
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = state();
    const q = ui.q.value.trim();
    if (q) p.set('q', q); else p.delete('q');
    p.delete('page');
    go(p, null);
  });

  ui.filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = state();
    for (const k of ['year_from', 'year_to']) {
      const v = $(k).value.trim();
      if (v && !/^[0-9]{4}$/.test(v)) {
        ui.status.className = 'error';
        ui.status.textContent = 'Years are four digits, such as 2015.';
        $(k).focus();
        return;
      }
      if (v) p.set(k, v); else p.delete(k);
    }
    p.delete('page');
    go(p, null);
  });

  document.addEventListener('change', (e) => {
    const t = e.target;
    const k = t && t.dataset && t.dataset.param;
    if (!k || k === 'year_from' || k === 'year_to') return;
    const p = state();
    p.delete('page');
    if (t.type === 'checkbox' && MULTI.includes(k)) {
      const values = new Set(list(p.getAll(k).join(',')));
      if (t.checked) values.add(t.value); else values.delete(t.value);
      p.delete(k);
      if (values.size) p.set(k, [...values].join(','));
    } else if (t.type === 'checkbox') {
      if (t.checked) p.set(k, t.dataset.on); else p.delete(k);
    } else if (t.tagName === 'SELECT') {
      if (t.value && t.selectedIndex > 0) p.set(k, t.value); else p.delete(k);
    }
    go(p, null);
  });

  // Links within the page (pages, suggestions, examples) change the state without a reload.
  document.addEventListener('click', (e) => {
    const a = e.target instanceof Element ? e.target.closest('a[href]') : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname !== '/' || a.hasAttribute('download')) return;
    e.preventDefault();
    go(url.searchParams, 'results');
  });

  ui.toggle.addEventListener('click', () => {
    const open = ui.toggle.getAttribute('aria-expanded') !== 'true';
    ui.toggle.setAttribute('aria-expanded', String(open));
    ui.filters.classList.toggle('collapsed', !open);
    showActive(state());
  });

  window.addEventListener('popstate', () => run(null));
  run(null);
})();
