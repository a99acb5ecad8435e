// The derivation explorer draws what the server derived (GET api/explain, or the JSON that `explain --html` embeds).
// It computes no index: which cells make a product, the rotated kernel's window and the phases all come from the model.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const embedded = $('explain-data');
  const fileMode = embedded !== null;
  const fields = ['input', 'kernel', 'stride', 'padding', 'dilation'];
  const captions = {
    I: 'input', K: 'kernel', O: 'output O = I ⋆ K', dO: 'output gradient ∂L/∂O (given)',
    dK: 'kernel gradient ∂L/∂K', dI: 'input gradient ∂L/∂I',
  };
  const live = new Set(['O', 'dK', 'dI']);
  let data = null;
  let formulaByCell = new Map();
  let selected = null;
  let windowCell = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  }

  const minus = (v) => (v < 0 ? '−' + String(-v) : String(v));
  const factor = (v) => (v < 0 ? '(' + minus(v) + ')' : String(v));

  function fillForm(query) {
    for (const f of fields) {
      const v = query.get ? query.get(f) : query[f];
      $('f-' + f).value = v === null || v === undefined ? '' : v;
    }
  }

  function showError(message) {
    $('error').textContent = message;
    $('error').hidden = false;
    $('content').hidden = true;
    document.body.dataset.ready = 'true';
  }

  async function load(query) {
    let response;
    try {
      response = await fetch('api/explain?' + query.toString(), { cache: 'no-store' });
    } catch (e) {
      showError('the server does not answer (' + e.message + '); is convgrad explain --serve still running?');
      return;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || body === null || body.error) {
      showError(body && body.error ? body.error : 'the server answered HTTP ' + response.status);
      return;
    }
    show(body);
  }

  function cellElement(label) {
    return document.querySelector('#grids .cell[data-cell="' + CSS.escape(label) + '"]');
  }

  function table(grid, decorate) {
    const t = el('table', { class: grid.columns > 8 ? 'grid dense' : 'grid', 'data-tensor': grid.name, 'aria-label': grid.name });
    for (let r = 0; r < grid.rows; r++) {
      const tr = el('tr');
      for (let c = 0; c < grid.columns; c++) {
        const label = grid.cells[r * grid.columns + c];
        const td = el('td', { class: 'cell', 'data-row': r, 'data-col': c });
        if (label === null) {
          td.classList.add('zero');
          td.textContent = '0';
        } else {
          decorate(td, label);
        }
        tr.append(td);
      }
      t.append(tr);
    }
    return t;
  }

  function figure(caption, small, tableElement) {
    return el('figure', {}, el('figcaption', {}, caption, ' ', el('small', {}, small)), tableElement);
  }

  function renderGrids(m) {
    const forward = el('div', { class: 'row', 'aria-label': 'forward' });
    const backward = el('div', { class: 'row', 'aria-label': 'gradients' });
    $('grids').replaceChildren(forward, backward);
    for (const grid of m.grids) {
      const host = ['I', 'K', 'O'].includes(grid.name) ? forward : backward;
      const t = table(grid, (td, label) => {
        td.dataset.cell = label;
        td.append(el('span', { class: 'name' }, label), el('span', { class: 'v' }, minus(m.values.cells[label])));
        if (live.has(grid.name)) {
          td.classList.add('live');
          td.tabIndex = 0;
          td.setAttribute('aria-label', label);
          td.addEventListener('mouseenter', () => select(label));
          td.addEventListener('focus', () => select(label));
          td.addEventListener('keydown', move);
        }
      });
      host.append(figure(grid.name, captions[grid.name] + ', ' + (m.dims === 2 ? grid.rows + 'x' + grid.columns : grid.columns), t));
    }
  }

  function move(e) {
    const td = e.currentTarget;
    let r = Number(td.dataset.row);
    let c = Number(td.dataset.col);
    if (e.key === 'ArrowUp') r--;
    else if (e.key === 'ArrowDown') r++;
    else if (e.key === 'ArrowLeft') c--;
    else if (e.key === 'ArrowRight') c++;
    else return;
    const next = td.closest('table').querySelector('td[data-row="' + r + '"][data-col="' + c + '"]');
    if (next) {
      next.focus();
      e.preventDefault();
    }
  }

  function select(label) {
    const f = formulaByCell.get(label);
    if (!f) return;
    selected = label;
    for (const c of document.querySelectorAll('#grids .cell')) c.classList.remove('sel', 'hl', 'dropped-tap');
    cellElement(label).classList.add('sel');
    for (const p of f.products) {
      for (const x of [p.a, p.b]) cellElement(x).classList.add('hl');
    }
    for (const d of f.dropped) {
      for (const x of [d.a, d.b]) {
        const c = cellElement(x);
        if (c && !c.classList.contains('hl')) c.classList.add('dropped-tap');
      }
    }
    $('formula').textContent = f.text;
    const v = data.model.values.cells;
    $('formula-values').textContent = '= ' + (f.products.length === 0 ? '0' : f.products.map((p) => factor(v[p.a]) + '·' + factor(v[p.b])).join(' + ')
      + ' = ' + minus(v[f.cell]));
    $('dropped').replaceChildren(...f.dropped.map((d) => el('li', {}, d.text)));
    if (label.startsWith('dI(')) setWindow(label);
  }

  function renderFormulaLists(m) {
    const host = $('formula-lists');
    host.replaceChildren();
    for (const name of ['O', 'dK', 'dI']) {
      const list = el('ul', { 'aria-label': name + ' formulas' });
      for (const f of m.formulas.filter((x) => x.cell.startsWith(name + '('))) {
        const li = el('li', { 'data-formula': f.cell }, f.text);
        if (f.dropped.length > 0) li.append(el('ul', {}, ...f.dropped.map((d) => el('li', {}, d.text))));
        list.append(li);
      }
      host.append(el('h3', {}, name), list);
    }
  }

  function renderCompact(m) {
    const c = m.compact;
    const dk = $('compact-dk');
    dk.replaceChildren(el('h3', {}, 'dK = I ⋆ dO′'));
    const plain = (td, label) => { td.textContent = label; };
    if (c.dilatedOutputGradient) {
      const dilated = table(c.dilatedOutputGradient, plain);
      dilated.id = 'dilated-grid';
      dk.append(el('p', {}, 'dO′ is dO with stride − 1 zeros inserted between neighbours; dK is the correlation of the padded input with it.'),
        figure('dO′', 'dO with the stride\u2019s zeros', dilated));
    } else {
      dk.append(el('p', {}, 'Stride 1: no zeros are inserted, dO′ is dO itself and dK = I ⋆ dO.'));
    }
    const padded = table(c.paddedOutputGradient, plain);
    padded.id = 'padded-grid';
    $('compact-di').replaceChildren(figure('dO″', 'zeros inserted and padded', padded),
      figure('rot180(K)', 'the kernel turned by 180°', table(c.rotatedKernel, plain)));
    const choose = $('window-cell');
    choose.replaceChildren(...c.windows.map((w) => el('option', { value: w.cell }, w.cell)));
    const phaseOf = new Map();
    c.phases.forEach((p, i) => p.cells.forEach((cell) => phaseOf.set(cell, i)));
    const dI = m.grids.find((g) => g.name === 'dI');
    const map = table(dI, (td, label) => {
      const i = phaseOf.get(label);
      td.textContent = 'phase ' + (i + 1);
      td.classList.add('phase', 'phase' + (i % 6));
      td.dataset.cell = label;
    });
    map.id = 'phase-grid';
    $('phase-map').replaceChildren(figure('dI by phase', 'which phase computes each dI cell', map));
    $('phases').replaceChildren(...c.phases.map((p, i) => el('li', { 'data-cells': p.cells.join(' ') },
      'phase ' + (i + 1) + ', ' + p.name + ': ' + (p.taps.length === 0 ? 'no tap reaches it, dI = 0 there' : 'taps ' + p.taps.join(', ')))));
    const keep = windowCell && c.windows.some((w) => w.cell === windowCell) ? windowCell : c.windows[0].cell;
    setWindow(keep);
  }

  function setWindow(label) {
    const w = data.model.compact.windows.find((x) => x.cell === label);
    if (!w) return;
    windowCell = label;
    $('window-cell').value = label;
    const grid = $('padded-grid');
    for (const td of grid.querySelectorAll('td')) {
      td.classList.remove('win');
      for (const t of td.querySelectorAll('.tap')) t.remove();
    }
    for (const t of w.taps) {
      const td = grid.querySelector('td[data-row="' + t.row + '"][data-col="' + t.column + '"]');
      td.classList.add('win');
      td.append(el('span', { class: 'tap' }, '×' + t.tap));
    }
    const kept = w.taps.filter((t) => t.under !== null);
    const zeros = w.taps.length - kept.length;
    $('window-sum').textContent = label + ' = ' + (kept.length === 0 ? '0' : kept.map((t) => t.under + '·' + t.tap).join(' + '))
      + (zeros > 0 ? '   (' + zeros + ' of the ' + w.taps.length + ' taps lie over zeros)' : '');
    let current = [];
    for (const li of $('phases').children) {
      const inside = li.dataset.cells.split(' ').includes(label);
      li.classList.toggle('current', inside);
      if (inside) current = li.dataset.cells.split(' ');
    }
    for (const td of $('phase-grid').querySelectorAll('td')) td.classList.toggle('phase-cur', current.includes(td.dataset.cell));
  }

  function renderValues(m) {
    $('seed').textContent = String(m.values.seed);
    $('verdict').textContent = m.values.verdict;
    $('verdict').classList.toggle('failed', !m.values.passed);
    if (fileMode) {
      $('values-note').textContent = 'This file carries one set of values; convgrad explain --serve draws new ones.';
      $('values-note').hidden = false;
    }
  }

  function applyToggles() {
    const values = $('values-toggle').checked;
    document.body.classList.toggle('values-on', values);
    $('values-view').hidden = !values;
    $('formula-values').hidden = !values || selected === null;
    $('reroll').hidden = !values || fileMode;
    $('compact-view').hidden = !$('compact-toggle').checked;
  }

  function show(d) {
    data = d;
    const m = d.model;
    $('error').hidden = true;
    $('content').hidden = false;
    fillForm(d.query);
    $('title').textContent = m.title;
    formulaByCell = new Map(m.formulas.map((f) => [f.cell, f]));
    renderGrids(m);
    renderFormulaLists(m);
    renderCompact(m);
    renderValues(m);
    $('explain-text').textContent = m.text;
    if (selected !== null && formulaByCell.has(selected)) {
      select(selected);
    } else {
      selected = null;
      $('formula').textContent = 'Hover over or focus (Tab, then arrow keys) a cell of O, dK or dI.';
      $('dropped').replaceChildren();
    }
    applyToggles();
    document.body.dataset.ready = 'true';
  }

  $('compact-toggle').addEventListener('change', applyToggles);
  $('values-toggle').addEventListener('change', applyToggles);
  $('window-cell').addEventListener('change', (e) => setWindow(e.target.value));
  $('reroll').addEventListener('click', () => {
    const query = new URLSearchParams(data.query);
    query.set('seed', String(1 + Math.floor(Math.random() * 999999)));
    history.replaceState(null, '', '?' + query.toString());
    document.body.dataset.ready = 'false';
    load(query);
  });
  const observer = new MutationObserver(applyToggles);
  observer.observe($('formula'), { childList: true });

  if (fileMode) {
    $('geometry-fields').disabled = true;
    $('geometry-help').textContent = 'convgrad explain --html wrote this page for one geometry; convgrad explain --serve draws any geometry.';
    show(JSON.parse(embedded.textContent));
  } else {
    const query = new URLSearchParams(location.search);
    fillForm(query);
    load(query);
  }
})();
