// The derivation explorer draws what the server derived (GET api/explain, or the JSON that `explain --html` embeds:
// the same geometry in both index bases). It computes no index: which cells make a product, the channel sums, the
// phases, the reduction order, the transposed-convolution check and every label come from the model.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const embedded = $('explain-data');
  const fileMode = embedded !== null;
  const fields = ['input', 'kernel', 'stride', 'padding', 'dilation', 'channels', 'out-channels', 'batch', 'groups'];
  const captions = {
    I: 'input', K: 'kernel', O: 'output O = I ⋆ K', dO: 'output gradient ∂L/∂O (given)',
    dK: 'kernel gradient ∂L/∂K', dI: 'input gradient ∂L/∂I',
  };
  const live = new Set(['O', 'dK', 'dI']);
  let data = null;
  let formulaByCell = new Map();
  let selected = null;
  let windowCell = null;
  let reductionCell = null;
  let currentPhase = -1;

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
  const count = (v) => v.toLocaleString('en-US');

  function fillForm(query) {
    const get = (f) => (query.get ? query.get(f) : query[f]);
    for (const f of fields) {
      const v = get(f);
      $('f-' + f).value = v === null || v === undefined ? '' : v;
      $('f-' + f).removeAttribute('aria-invalid');
    }
    const base = get('base') === '0' ? '0' : '1';
    $('f-base-' + base).checked = true;
    const seed = get('seed');
    $('f-seed').value = seed === null || seed === undefined ? '' : seed;
  }

  function showError(body) {
    $('error').textContent = body.error;
    $('error-box').hidden = false;
    $('content').hidden = true;
    for (const f of fields) $('f-' + f).removeAttribute('aria-invalid');
    if (body.field && $('f-' + body.field)) $('f-' + body.field).setAttribute('aria-invalid', 'true');
    const instead = body.instead || [];
    $('instead-box').hidden = instead.length === 0;
    $('instead').replaceChildren(...instead.flatMap((a, i) => {
      const link = el('a', { href: '?' + new URLSearchParams(a.query).toString() }, a.change);
      return i === 0 ? [link] : [' or ', link];
    }));
    document.body.dataset.ready = 'true';
  }

  async function load(query) {
    let response;
    try {
      response = await fetch('api/explain?' + query.toString(), { cache: 'no-store' });
    } catch (e) {
      showError({ error: 'the server does not answer (' + e.message + '); is convgrad explain --serve still running?' });
      return;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || body === null || body.error) {
      showError(body && body.error ? body : { error: 'the server answered HTTP ' + response.status });
      return;
    }
    show(body);
  }

  function cellElement(label) {
    return document.querySelector('#grids .cell[data-cell="' + CSS.escape(label) + '"]');
  }

  function table(grid, decorate) {
    const t = el('table', { class: grid.columns > 8 ? 'grid dense' : 'grid', 'data-tensor': grid.name, 'aria-label': grid.name + (grid.slice ? ', ' + grid.slice : '') });
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

  function figure(caption, small, content) {
    return el('figure', {}, el('figcaption', {}, caption, ' ', el('small', {}, small)), content);
  }

  function sizeText(m, grid) {
    return m.dims === 2 ? grid.rows + 'x' + grid.columns : String(grid.columns);
  }

  function renderGrids(m) {
    const forward = el('div', { class: 'row', 'aria-label': 'forward' });
    const backward = el('div', { class: 'row', 'aria-label': 'gradients' });
    $('grids').replaceChildren(forward, backward);
    const grouped = m.channels.groups > 1;
    for (const name of ['I', 'K', 'O', 'dO', 'dK', 'dI']) {
      const slices = m.grids.filter((g) => g.name === name);
      const host = ['I', 'K', 'O'].includes(name) ? forward : backward;
      const holder = el('div', { class: name === 'K' || name === 'dK' ? 'slices weights' : 'slices' });
      if (name === 'K' || name === 'dK') holder.style.setProperty('--per-row', String(slices.length / m.channels.outChannels));
      for (const grid of slices) {
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
        const slice = grid.slice === null ? t : el('figure', { class: 'slice' + (grouped ? ' group' + (grid.group % 4) : '') },
          el('figcaption', {}, grid.slice), t);
        holder.append(slice);
      }
      host.append(figure(name, captions[name] + ', ' + sizeText(m, slices[0]) + (slices.length > 1 ? ', ' + slices.length + ' slices' : ''), holder));
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
    $('sums').replaceChildren(...f.sums.map((s) => el('li', {}, el('span', { class: 'over' }, s.over + ': '), s.text)));
    $('sums').hidden = f.sums.length === 0;
    const v = data.model.values.cells;
    $('formula-values').textContent = '= ' + (f.products.length === 0 ? '0' : f.products.map((p) => factor(v[p.a]) + '·' + factor(v[p.b])).join(' + ')
      + ' = ' + minus(v[f.cell]));
    $('dropped-details').hidden = f.dropped.length === 0;
    $('dropped-summary').textContent = f.droppedSummary || '';
    $('dropped').replaceChildren(...f.dropped.map((d) => el('li', {}, d.text)));
    if (label.startsWith('dI(')) setWindow(label);
    if (label.startsWith('dK(')) setReduction(label);
    applyToggles();
  }

  function droppedDetails(f) {
    return el('details', { class: 'dropped-list' }, el('summary', {}, f.droppedSummary), el('ul', {}, ...f.dropped.map((d) => el('li', {}, d.text))));
  }

  function renderFormulaLists(m) {
    const host = $('formula-lists');
    host.replaceChildren();
    for (const name of ['O', 'dK', 'dI']) {
      const list = el('ul', { 'aria-label': name + ' formulas' });
      for (const f of m.formulas.filter((x) => x.cell.startsWith(name + '('))) {
        const li = el('li', { 'data-formula': f.cell }, f.text);
        if (f.dropped.length > 0) li.append(droppedDetails(f));
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
    $('compact-slice').textContent = m.channels.batch * m.channels.channels * m.channels.outChannels > 1
      ? ' (drawn for the first batch item, input and output channel; dI sums this over the output channels of the group)' : '';
    const choose = $('window-cell');
    choose.replaceChildren(...c.windows.map((w) => el('option', { value: w.cell }, w.cell)));
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
  }

  function renderPlans(m) {
    const plans = m.engine.plans || [];
    $('plans-box').hidden = plans.length === 0;
    $('plans').replaceChildren(el('tr', {}, ...['pass', 'layout', 'isa', 'kernel', 'workspace', 'how'].map((h) => el('th', {}, h))),
      ...plans.map((p) => el('tr', { 'data-pass': p.pass, 'data-layout': p.layout },
        el('td', {}, p.pass), el('td', {}, p.layout), el('td', {}, p.isa), el('td', { class: 'kernel' }, p.kernel),
        el('td', {}, p.workspace), el('td', { class: 'summary' }, el('details', {}, el('summary', {}, 'the planner’s account'), el('p', {}, p.summary))))));
  }

  function renderPhases(m) {
    const e = m.engine;
    const macs = e.multiplyAdds;
    const ratio = macs.phases > 0 ? macs.zeroInserted / macs.phases : 0;
    $('macs').replaceChildren(
      el('span', { id: 'macs-zeros' }, 'with zeros inserted (dO″ ⋆ rot180(K)): ' + macs.zeroInsertedText + ' multiply-adds'), el('br'),
      el('span', { id: 'macs-phases' }, 'by phases: ' + macs.phasesText + ' multiply-adds'
        + (ratio > 1 ? ' (' + (Math.round(ratio * 10) / 10) + '× fewer)' : '')), el('br'),
      el('span', { id: 'macs-useful' }, macs.usefulText));
    $('phases').replaceChildren(...e.phases.map((p, i) => {
      const li = el('li', { tabindex: '0', 'data-phase': String(i) },
        el('strong', {}, 'phase ' + (i + 1) + ': ' + p.name), el('br'),
        el('code', { class: 'phase-formula' }, p.formula), ' ', el('span', { class: 'hint' }, '(' + p.range + ')'));
      if (p.subKernel.rows > 0 && p.subKernel.columns > 0) {
        li.append(el('div', { class: 'subkernel' }, figure('sub-kernel', 'of rot180(K)', table(p.subKernel, (td, label) => { td.textContent = label; }))));
      }
      li.append(el('span', { class: 'phase-macs' }, count(p.multiplyAdds) + ' multiply-adds; '),
        el('span', { class: p.verified ? 'phase-check ok' : 'phase-check failed' },
          p.verified ? 'computed as this correlation on the values, it equals the engine\u2019s dI at its ' + p.cells.length + ' cells'
            : 'DIFFERS from the engine\u2019s dI (largest difference ' + p.maxError + ')'));
      li.addEventListener('mouseenter', () => highlightPhase(i));
      li.addEventListener('focus', () => highlightPhase(i));
      return li;
    }));
    currentPhase = -1;
  }

  function highlightPhase(i) {
    currentPhase = i;
    const p = data.model.engine.phases[i];
    for (const c of document.querySelectorAll('#grids .cell')) c.classList.remove('phase-cell', 'phase-tap', 'phase-read');
    for (const [labels, cls] of [[p.cells, 'phase-cell'], [p.taps, 'phase-tap'], [p.outputCells, 'phase-read']]) {
      for (const label of labels) {
        const c = cellElement(label);
        if (c) c.classList.add(cls);
      }
    }
    for (const li of $('phases').children) li.classList.toggle('current', Number(li.dataset.phase) === i);
  }

  function renderReduction(m) {
    const cells = m.formulas.filter((f) => f.cell.startsWith('dK('));
    $('reduction-cell').replaceChildren(...cells.map((f) => el('option', { value: f.cell }, f.cell)));
    $('reduction-order').textContent = 'The terms of the chosen cell in the order they are added: ' + m.engine.reduction.order + '.';
    $('reduction-verdict').textContent = m.engine.reduction.verdict;
    $('reduction-verdict').classList.toggle('failed', !(m.engine.reduction.sameBits && m.engine.reduction.reproduced === m.engine.reduction.cells));
    const keep = reductionCell && formulaByCell.has(reductionCell) ? reductionCell : cells[0].cell;
    setReduction(keep);
  }

  function setReduction(label) {
    const f = formulaByCell.get(label);
    if (!f) return;
    reductionCell = label;
    $('reduction-cell').value = label;
    $('reduction-terms').replaceChildren(...f.products.map((p) => el('li', {}, p.a + '·' + p.b)));
  }

  function renderTransposed(m) {
    const t = m.engine.transposed;
    $('output-padding').textContent = t.outputPadding.join(', ');
    $('transposed-call').textContent = t.call + (t.torch ? '\n' + t.torch + '   # PyTorch' : '');
    const grids = m.grids.filter((g) => g.name === 'dI');
    $('transposed-grids').replaceChildren(...grids.map((g) => figure('ConvTranspose(dO)' + (g.slice ? ', ' + g.slice : ''), 'values',
      table(g, (td, label) => {
        td.dataset.cell = label;
        td.append(el('span', { class: 'name' }, label), el('span', { class: 'tv' }, minus(t.values[label])));
      }))));
    $('transposed-verdict').textContent = t.verdict;
    $('transposed-verdict').classList.toggle('failed', !t.equal);
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
    $('transposed-view').hidden = !$('transposed-toggle').checked;
  }

  function show(d) {
    data = d;
    const m = d.model;
    $('error-box').hidden = true;
    $('content').hidden = false;
    fillForm(d.query);
    $('title').textContent = m.title;
    $('channels-info').textContent = m.channels.summary;
    $('channels-info').hidden = m.channels.channels * m.channels.outChannels * m.channels.batch === 1;
    formulaByCell = new Map(m.formulas.map((f) => [f.cell, f]));
    renderGrids(m);
    renderFormulaLists(m);
    renderCompact(m);
    renderPlans(m);
    renderPhases(m);
    renderReduction(m);
    renderTransposed(m);
    renderValues(m);
    $('explain-text').textContent = m.text;
    if (selected !== null && formulaByCell.has(selected)) {
      select(selected);
    } else {
      selected = null;
      $('formula').textContent = 'Hover over or focus (Tab, then arrow keys) a cell of O, dK or dI.';
      $('sums').hidden = true;
      $('dropped-details').hidden = true;
    }
    applyToggles();
    document.body.dataset.ready = 'true';
  }

  function currentBase() {
    return $('f-base-0').checked ? '0' : '1';
  }

  // Switching the index base relabels everything: the server derives the other base (or the file holds both).
  function switchBase() {
    selected = null;
    windowCell = null;
    reductionCell = null;
    document.body.dataset.ready = 'false';
    if (fileMode) {
      const all = JSON.parse(embedded.textContent);
      show(all.find((r) => r.query.base === currentBase()));
      return;
    }
    const query = new URLSearchParams(data ? data.query : location.search);
    query.set('base', currentBase());
    history.replaceState(null, '', '?' + query.toString());
    load(query);
  }

  $('compact-toggle').addEventListener('change', applyToggles);
  $('values-toggle').addEventListener('change', applyToggles);
  $('transposed-toggle').addEventListener('change', applyToggles);
  $('window-cell').addEventListener('change', (e) => setWindow(e.target.value));
  $('reduction-cell').addEventListener('change', (e) => setReduction(e.target.value));
  $('f-base-0').addEventListener('change', switchBase);
  $('f-base-1').addEventListener('change', switchBase);
  $('reroll').addEventListener('click', () => {
    const query = new URLSearchParams(data.query);
    query.set('seed', String(1 + Math.floor(Math.random() * 999999)));
    history.replaceState(null, '', '?' + query.toString());
    document.body.dataset.ready = 'false';
    load(query);
  });

  if (fileMode) {
    for (const id of ['geometry-fields', 'channel-fields']) $(id).disabled = true;
    $('derive').disabled = true;
    $('geometry-help').textContent = 'convgrad explain --html wrote this page for one geometry (in both index bases); convgrad explain --serve draws any geometry.';
    show(JSON.parse(embedded.textContent)[0]);
  } else {
    const query = new URLSearchParams(location.search);
    fillForm(query);
    load(query);
  }
})();
