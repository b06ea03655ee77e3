// The Embedding map's 2-D scatter: a Streamlit Custom Component (v2, runs in the page) over
// regl-scatterplot (WebGL). Python hands over small JSON (`data`, see components/scatter/__init__.py)
// naming a versioned binary file of the points; this module fetches it, draws it, and tells Python only
// what the user picked (the clicked point, or a box/lasso's points) as indices into that file.
// Everything else happens here: pan/zoom, hover previews (fetched per block of rows on demand), legend
// toggles (filter), density shading under the points, cluster labels (greedy, no overlaps, finer as you
// zoom) and marks (rings, the clicked point, a query star, phrase matches). Every string from the
// collection is set with textContent: category names and chunk text stay inert.
import createScatterplot from 'regl-scatterplot';

const STYLE = `
.emap { position: relative; font-family: var(--st-font, sans-serif); user-select: none; }
.emap canvas { position: absolute; left: 0; top: 0; }
.emap .emap-labels { position: absolute; inset: 0; pointer-events: none; overflow: hidden; }
.emap .emap-label { position: absolute; transform: translate(-50%, -50%); white-space: nowrap;
  font-weight: 600; color: #1f2430; background: rgba(255,255,255,0.72); border-radius: 4px; padding: 0 4px;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; line-height: 1.25; }
.emap .emap-label.fine { font-weight: 500; color: #30364a; background: rgba(255,255,255,0.6); }
.emap .emap-toolbar { display: flex; gap: 4px; height: 30px; align-items: center; }
.emap .emap-stage { position: relative; overflow: hidden; border: 1px solid #eceef2; border-radius: 6px; }
.emap button { font: inherit; font-size: 12px; padding: 3px 8px; border: 1px solid #c8ccd4; border-radius: 4px;
  background: rgba(255,255,255,0.92); color: #1f2430; cursor: pointer; }
.emap button.on { background: #1f2430; color: #fff; border-color: #1f2430; }
.emap .emap-legend { position: absolute; right: 8px; top: 8px; max-height: calc(100% - 16px); overflow-y: auto;
  background: rgba(255,255,255,0.9); border: 1px solid #e1e4ea; border-radius: 6px; padding: 4px 6px; z-index: 3;
  font-size: 12px; max-width: 240px; }
.emap .emap-legend-title { font-weight: 600; margin: 2px 0 4px; }
.emap .emap-entry { display: flex; align-items: center; gap: 6px; padding: 1px 2px; cursor: pointer; border-radius: 3px; }
.emap .emap-entry:hover { background: #eef0f4; }
.emap .emap-entry.off { opacity: 0.35; text-decoration: line-through; }
.emap .emap-swatch { width: 10px; height: 10px; border-radius: 50%; flex: none; }
.emap .emap-entry-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.emap .emap-entry-count { color: #6b7280; margin-left: auto; padding-left: 6px; }
.emap .emap-tip { position: absolute; pointer-events: none; z-index: 4; max-width: 340px; background: #fff;
  border: 1px solid #d5d9e0; border-radius: 6px; padding: 6px 8px; font-size: 12px; box-shadow: 0 2px 8px rgba(0,0,0,.12); }
.emap .emap-tip-head { font-weight: 600; margin-bottom: 2px; }
.emap .emap-status { position: absolute; left: 50%; top: 45%; transform: translate(-50%, -50%); z-index: 4;
  background: rgba(255,255,255,0.95); padding: 8px 14px; border-radius: 6px; font-size: 13px; border: 1px solid #e1e4ea; }
.emap .emap-footer { position: absolute; left: 8px; bottom: 6px; font-size: 11px; color: #6b7280; z-index: 3;
  background: rgba(255,255,255,0.8); padding: 0 4px; border-radius: 3px; }
`;

const instances = new Map(); // component key -> Map view (survives Streamlit reruns)

// A linear scale with the surface regl-scatterplot uses (domain, range, call): the library keeps its
// domain on the view, so data -> screen for the overlays is one call.
function linearScale(domain, range) {
  let d = domain.slice();
  let r = range.slice();
  const scale = (v) => r[0] + ((v - d[0]) / (d[1] - d[0])) * (r[1] - r[0]);
  scale.domain = (v) => (v === undefined ? d.slice() : ((d = v.slice()), scale));
  scale.range = (v) => (v === undefined ? r.slice() : ((r = v.slice()), scale));
  scale.invert = (p) => d[0] + ((p - r[0]) / (r[1] - r[0])) * (d[1] - d[0]);
  scale.copy = () => linearScale(d, r);
  return scale;
}

function el(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

function hexToRgb(hex) {
  const h = hex.replace('#', '');
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

function lighten(hex, amount) {
  const [r, g, b] = hexToRgb(hex).map((c) => Math.round(c + (255 - c) * amount));
  return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

// The binary file: float32 x[n], float32 y[n] (in [-1, 1]), uint32 row[n] (the row in Python's map),
// uint16 category[n], uint8 size class[n].
function parsePoints(buffer, n) {
  return {
    x: new Float32Array(buffer, 0, n),
    y: new Float32Array(buffer, 4 * n, n),
    row: new Uint32Array(buffer, 8 * n, n),
    category: new Uint16Array(buffer, 12 * n, n),
    size: new Uint8Array(buffer, 14 * n, n),
  };
}

// A smoothed 2-D histogram of the points as an image over [-1, 1]^2: shading under the points shows
// where the mass is when a million points overdraw each other. Coarser for few points, so it shades
// regions rather than haloing single points.
function densityImage(points) {
  const n = points.x.length;
  const bins = n < 2000 ? 40 : n < 20000 ? 80 : n < 200000 ? 160 : 256;
  let grid = new Float32Array(bins * bins);
  const { x, y } = points;
  for (let i = 0; i < x.length; i++) {
    const bx = Math.min(bins - 1, Math.max(0, Math.floor(((x[i] + 1) / 2) * bins)));
    const by = Math.min(bins - 1, Math.max(0, Math.floor(((1 - y[i]) / 2) * bins)));
    grid[by * bins + bx] += 1;
  }
  const blur = (src, dx, dy, radius) => {
    const out = new Float32Array(src.length);
    for (let j = 0; j < bins; j++) {
      for (let i = 0; i < bins; i++) {
        let sum = 0;
        for (let k = -radius; k <= radius; k++) {
          const ii = i + k * dx;
          const jj = j + k * dy;
          if (ii >= 0 && ii < bins && jj >= 0 && jj < bins) sum += src[jj * bins + ii];
        }
        out[j * bins + i] = sum / (2 * radius + 1);
      }
    }
    return out;
  };
  for (let pass = 0; pass < 3; pass++) grid = blur(blur(grid, 1, 0, 2), 0, 1, 2);
  let max = 0;
  for (const v of grid) max = Math.max(max, v);
  const canvas = document.createElement('canvas');
  canvas.width = bins;
  canvas.height = bins;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(bins, bins);
  for (let p = 0; p < grid.length; p++) {
    const t = max > 0 ? Math.sqrt(grid[p] / max) : 0;
    image.data[4 * p] = 70;
    image.data[4 * p + 1] = 90;
    image.data[4 * p + 2] = 150;
    image.data[4 * p + 3] = Math.round(t * 110);
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

class MapView {
  constructor(parent, setStateValue) {
    this.setStateValue = setStateValue;
    this.root = el('div', 'emap');
    this.root.mapView = this; // for tests and benches: screen positions of points, the current zoom
    const style = el('style', null, this.root);
    style.textContent = STYLE;
    this.toolbar = el('div', 'emap-toolbar', this.root);
    this.stage = el('div', 'emap-stage', this.root);
    this.densityCanvas = el('canvas', 'emap-density', this.stage);
    this.canvas = el('canvas', 'emap-points', this.stage);
    this.marksCanvas = el('canvas', 'emap-marks', this.stage);
    this.marksCanvas.style.pointerEvents = 'none';
    this.labelsLayer = el('div', 'emap-labels', this.stage);
    this.legend = el('div', 'emap-legend', this.stage);
    this.tip = el('div', 'emap-tip', this.stage);
    this.tip.style.display = 'none';
    this.status = el('div', 'emap-status', this.stage);
    this.footer = el('div', 'emap-footer', this.stage);
    this.hidden = new Set();
    this.hoverBlocks = new Map();
    this.pointsKey = null;
    this.points = null;
    this.scatterplot = null;
    this.mode = 'panZoom';
    this.pending = null;
    this.buildToolbar();
    this.attach(parent);
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.root);
  }

  attach(parent) {
    if (this.root.parentNode !== parent) parent.appendChild(this.root);
  }

  buildToolbar() {
    this.buttons = {};
    const modes = [['panZoom', 'Pan & zoom', 'Drag to pan, scroll to zoom, click a point for its details'],
      ['box', 'Box', 'Drag a rectangle to select the points in it'],
      ['lasso', 'Lasso', 'Draw around the points to select']];
    for (const [mode, label, title] of modes) {
      const button = el('button', null, this.toolbar);
      button.textContent = label;
      button.title = title;
      button.dataset.mode = mode;
      button.addEventListener('click', () => this.setMode(mode));
      this.buttons[mode] = button;
    }
    const reset = el('button', null, this.toolbar);
    reset.textContent = 'Reset view';
    reset.dataset.action = 'reset';
    reset.addEventListener('click', () => this.fit());
    this.buttons.panZoom.classList.add('on');
  }

  setMode(mode) {
    this.mode = mode;
    for (const [name, button] of Object.entries(this.buttons)) button.classList.toggle('on', name === mode);
    if (!this.scatterplot) return;
    if (mode === 'panZoom') this.scatterplot.set({ mouseMode: 'panZoom' });
    else this.scatterplot.set({ mouseMode: 'lasso', lassoType: mode === 'box' ? 'rectangle' : 'freeform' });
  }

  size() {
    const width = Math.max(200, Math.floor((this.root.clientWidth || this.root.parentNode?.clientWidth || 802) - 2));
    return [width, this.height];
  }

  resize() {
    // A map taken off the page (the user went to another page) reports a zero width: redrawing a million
    // points at that size, and again at the old size on return, took seconds of software WebGL.
    if (!this.scatterplot || !this.root.isConnected || !this.root.clientWidth) return;
    const [width, height] = this.size();
    if (width === this.width) return;
    this.width = width;
    this.sizeOverlays(width, height);
    this.scatterplot.set({ width, height });
    this.redrawOverlays();
  }

  sizeOverlays(width, height) {
    for (const c of [this.densityCanvas, this.marksCanvas]) {
      c.width = width;
      c.height = height;
      c.style.width = `${width}px`;
      c.style.height = `${height}px`;
    }
  }

  showStatus(text) {
    this.status.textContent = text;
    this.status.style.display = text ? 'block' : 'none';
  }

  async update(data) {
    this.data = data;
    this.height = (data.height || 640) - 32; // the toolbar takes the rest
    this.stage.style.height = `${this.height}px`;
    this.footer.textContent = data.footer || '';
    if (data.points.key !== this.pointsKey) {
      this.pointsKey = data.points.key;
      const key = this.pointsKey;
      this.showStatus(`Loading ${data.points.n.toLocaleString()} points…`);
      const response = await fetch(data.points.url);
      if (!response.ok) {
        this.showStatus(`Could not load the map's points (HTTP ${response.status}). Reload the page.`);
        return;
      }
      const buffer = await response.arrayBuffer();
      if (key !== this.pointsKey) return; // a newer map arrived meanwhile
      this.showStatus(`Drawing ${data.points.n.toLocaleString()} points…`);
      // Let the browser paint the status before drawing blocks the main thread.
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      this.points = parsePoints(buffer, data.points.n);
      this.hoverBlocks = new Map();
      if (this.categoryKey !== data.categoryKey) this.hidden = new Set();
      this.categoryKey = data.categoryKey;
      await this.draw();
      this.density = data.density ? densityImage(this.points) : null;
      this.showStatus('');
      this.root.dataset.points = String(data.points.n);
      this.root.dataset.key = key;
      window.explorerMapView = this; // benches time the drawing from the page
    } else {
      this.applyColours();
    }
    this.buildLegend();
    this.redrawOverlays();
  }

  createScatterplot() {
    const [width, height] = this.size();
    this.width = width;
    this.sizeOverlays(width, height);
    this.xScale = linearScale([-1, 1], [0, width]);
    this.yScale = linearScale([-1, 1], [height, 0]);
    const scatterplot = createScatterplot({
      canvas: this.canvas,
      width,
      height,
      xScale: this.xScale,
      yScale: this.yScale,
      backgroundColor: [1, 1, 1, 0],
      lassoColor: '#1f2430',
      lassoClearEvent: 'lassoEnd',
      lassoInitiator: false,
      deselectOnDblClick: false,
      deselectOnEscape: false,
      pointColorActive: '#111111',
      pointOutlineWidth: 1,
      spatialIndexUseWorker: false,
      actionKeyMap: { shift: 'merge' },
    });
    scatterplot.subscribe('view', () => this.scheduleOverlays());
    // The library publishes 'select' before 'lassoEnd': mark a lasso (or box) when it starts.
    scatterplot.subscribe('lassoStart', () => { this.lassoing = true; });
    scatterplot.subscribe('select', ({ points }) => this.picked(points));
    scatterplot.subscribe('pointOver', (index) => this.hoverPoint(index));
    scatterplot.subscribe('pointOut', () => { this.tip.style.display = 'none'; this.hovered = null; });
    this.canvas.addEventListener('mousemove', (event) => {
      this.mouse = [event.offsetX, event.offsetY];
      if (this.tip.style.display !== 'none') this.placeTip();
    });
    this.canvas.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
    this.scatterplot = scatterplot;
    this.setMode(this.mode);
  }

  async draw() {
    if (!this.scatterplot) this.createScatterplot();
    const big = this.data.points.n > 200000;
    this.scatterplot.set({
      performanceMode: big,
      pointSize: this.data.sizes,
      sizeBy: this.data.sizes.length > 1 ? 'valueB' : null,
      pointSizeSelected: 2,
      opacity: big ? 1 : 0.85,
      colorBy: 'valueA',
    });
    this.applyColours(false);
    const { x, y, category, size } = this.points;
    await this.scatterplot.draw({ x, y, valueA: category, valueB: size },
      { zDataType: 'categorical', wDataType: 'categorical' });
    this.fit();
    this.applyFilter();
  }

  // The whole [-1, 1] square in view, whatever the canvas's shape (the library fits its height).
  fit() {
    if (!this.scatterplot) return;
    this.scatterplot.zoomToArea({ x: -1, y: -1, width: 2, height: 2 }, { transition: false });
    const [d0, d1] = this.xScale.domain();
    this.fitWidth = d1 - d0;
    this.scheduleOverlays();
  }

  applyColours(redraw = true) {
    const dim = (this.data.matches || []).length > 0;
    const colours = this.data.categories.map((c) => (dim ? lighten(c.colour, 0.7) : c.colour));
    const signature = colours.join();
    if (signature === this.colourSignature) return;
    this.colourSignature = signature;
    this.scatterplot.set({ pointColor: colours.length ? colours : ['#888888'] });
    if (redraw) this.scatterplot.redraw?.();
  }

  applyFilter() {
    if (!this.points) return;
    if (this.hidden.size === 0) {
      this.scatterplot.unfilter({ preventEvent: true });
    } else {
      const { category } = this.points;
      const shown = [];
      for (let i = 0; i < category.length; i++) if (!this.hidden.has(category[i])) shown.push(i);
      this.scatterplot.filter(shown, { preventEvent: true });
    }
    this.scheduleOverlays();
  }

  buildLegend() {
    const { categories, legendTitle } = this.data;
    this.legend.replaceChildren();
    this.legend.style.display = categories.length ? 'block' : 'none';
    const title = el('div', 'emap-legend-title', this.legend);
    title.textContent = legendTitle || '';
    categories.forEach((c, index) => {
      const entry = el('div', 'emap-entry', this.legend);
      entry.dataset.index = String(index);
      entry.classList.toggle('off', this.hidden.has(index));
      entry.title = this.hidden.has(index) ? 'Click to show' : 'Click to hide';
      const swatch = el('span', 'emap-swatch', entry);
      swatch.style.background = c.colour;
      const name = el('span', 'emap-entry-name', entry);
      name.textContent = c.name;
      if (c.count !== undefined) {
        const count = el('span', 'emap-entry-count', entry);
        count.textContent = c.count.toLocaleString();
      }
      entry.addEventListener('click', () => {
        if (this.hidden.has(index)) this.hidden.delete(index);
        else this.hidden.add(index);
        this.applyFilter();
        this.buildLegend();
      });
    });
  }

  picked(indices) {
    this.tip.style.display = 'none';
    const lasso = this.lassoing;
    this.lassoing = false;
    const kind = lasso ? (this.mode === 'box' ? 'box' : 'lasso') : 'click';
    if (!lasso && indices.length !== 1) return;
    this.lastPick = Array.from(indices);
    this.root.dataset.picked = `${kind}:${indices.length}`;
    this.setStateValue('pick', { key: this.pointsKey, kind, ids: Array.from(indices) });
  }

  async hoverPoint(index) {
    if (!this.points || !this.data.hover) return;
    this.hovered = index;
    const row = this.points.row[index];
    const category = this.data.categories[this.points.category[index]];
    const { prefix, block } = this.data.hover;
    const number = Math.floor(row / block);
    let texts = this.hoverBlocks.get(number);
    this.tip.replaceChildren();
    const head = el('div', 'emap-tip-head', this.tip);
    head.textContent = category ? category.name : '';
    const body = el('div', null, this.tip);
    this.tip.style.display = 'block';
    this.placeTip();
    if (texts === undefined) {
      body.textContent = '…';
      const promise = fetch(`${prefix}${number}.json`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
      this.hoverBlocks.set(number, promise);
      texts = promise;
    }
    const resolved = await texts;
    this.hoverBlocks.set(number, resolved);
    if (this.hovered !== index) return;
    body.textContent = resolved ? resolved[row - number * block] : '(preview not ready yet)';
    this.placeTip();
  }

  placeTip() {
    if (!this.mouse) return;
    const [mx, my] = this.mouse;
    const left = mx + 14 + 340 > this.width ? mx - 14 - this.tip.offsetWidth : mx + 14;
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${Math.min(this.height - this.tip.offsetHeight - 4, my + 14)}px`;
  }

  scheduleOverlays() {
    if (this.overlayFrame) return;
    this.overlayFrame = requestAnimationFrame(() => {
      this.overlayFrame = null;
      this.redrawOverlays();
    });
  }

  zoom() {
    const [d0, d1] = this.xScale.domain();
    return (this.fitWidth || 2) / Math.max(1e-9, d1 - d0);
  }

  redrawOverlays() {
    if (!this.scatterplot || !this.points) return;
    this.drawDensity();
    this.drawMarks();
    this.drawLabels();
  }

  drawDensity() {
    const ctx = this.densityCanvas.getContext('2d');
    ctx.clearRect(0, 0, this.densityCanvas.width, this.densityCanvas.height);
    if (!this.density) return;
    const x0 = this.xScale(-1);
    const x1 = this.xScale(1);
    const y0 = this.yScale(1);
    const y1 = this.yScale(-1);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.density, x0, y0, x1 - x0, y1 - y0);
  }

  screen(index) {
    return [this.xScale(this.points.x[index]), this.yScale(this.points.y[index])];
  }

  visible(index) {
    return this.hidden.size === 0 || !this.hidden.has(this.points.category[index]);
  }

  drawMarks() {
    const ctx = this.marksCanvas.getContext('2d');
    ctx.clearRect(0, 0, this.marksCanvas.width, this.marksCanvas.height);
    const { matches = [], rings = [], focus = null, query = null } = this.data;
    const n = this.points.x.length;
    const valid = (i) => Number.isInteger(i) && i >= 0 && i < n;
    ctx.fillStyle = '#111111';
    const dot = Math.max(2, (this.data.sizes[0] || 3) + 1);
    for (const i of matches) {
      if (!valid(i) || !this.visible(i)) continue;
      const [sx, sy] = this.screen(i);
      ctx.fillRect(sx - dot / 2, sy - dot / 2, dot, dot);
    }
    if (query) {
      const qx = this.xScale(query.x);
      const qy = this.yScale(query.y);
      ctx.strokeStyle = 'rgba(17,17,17,0.55)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const i of query.hits) {
        if (!valid(i)) continue;
        const [sx, sy] = this.screen(i);
        ctx.moveTo(qx, qy);
        ctx.lineTo(sx, sy);
      }
      ctx.stroke();
    }
    for (const ring of rings) {
      ctx.strokeStyle = ring.colour;
      ctx.lineWidth = ring.width || 2;
      for (const i of ring.ids) {
        if (!valid(i)) continue;
        const [sx, sy] = this.screen(i);
        ctx.beginPath();
        ctx.arc(sx, sy, ring.radius || 7, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    if (valid(focus)) {
      const [sx, sy] = this.screen(focus);
      ctx.beginPath();
      ctx.moveTo(sx, sy - 9);
      ctx.lineTo(sx + 9, sy);
      ctx.lineTo(sx, sy + 9);
      ctx.lineTo(sx - 9, sy);
      markerPaint(ctx);
    }
    if (query) {
      star(ctx, this.xScale(query.x), this.yScale(query.y), 12, 5);
    }
  }

  drawLabels() {
    const labels = this.data.labels || [];
    const zoom = this.zoom();
    // Level 0 at every zoom; level 1 from 2x, level 2 from 4x...: finer topics as the user zooms in.
    const level = Math.floor(Math.log2(Math.max(1, zoom)) + 1e-9);
    const candidates = labels
      .map(([x, y, text, size, lv]) => ({ x, y, text, size, lv }))
      .filter((l) => l.lv <= level)
      .sort((a, b) => a.lv - b.lv || b.size - a.size);
    const measure = this.measureCtx || (this.measureCtx = document.createElement('canvas').getContext('2d'));
    const placed = [];
    const shown = [];
    for (const label of candidates) {
      const sx = this.xScale(label.x);
      const sy = this.yScale(label.y);
      if (sx < 0 || sx > this.width || sy < 0 || sy > this.height) continue;
      measure.font = `600 ${label.size}px sans-serif`;
      const w = measure.measureText(label.text).width + 10;
      const h = label.size * 1.3;
      const box = [sx - w / 2, sy - h / 2, sx + w / 2, sy + h / 2];
      if (box[0] < 0 || box[2] > this.width) continue;
      if (placed.some((b) => box[0] < b[2] && box[2] > b[0] && box[1] < b[3] && box[3] > b[1])) continue;
      placed.push(box);
      shown.push({ ...label, sx, sy });
    }
    const pool = this.labelsLayer.children;
    while (pool.length < shown.length) el('div', 'emap-label', this.labelsLayer);
    for (let i = 0; i < pool.length; i++) {
      const node = pool[i];
      if (i >= shown.length) {
        node.style.display = 'none';
        continue;
      }
      const label = shown[i];
      node.style.display = 'block';
      node.className = label.lv > 0 ? 'emap-label fine' : 'emap-label';
      node.textContent = label.text;
      node.style.left = `${label.sx}px`;
      node.style.top = `${label.sy}px`;
      node.style.fontSize = `${label.size}px`;
    }
    this.root.dataset.labels = String(shown.length);
    this.root.dataset.zoom = zoom.toFixed(2);
  }
}

function star(ctx, cx, cy, outer, inner) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const r = k % 2 ? inner : outer;
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    ctx.lineTo(cx + r * Math.cos(a), cy + r * Math.sin(a));
  }
  markerPaint(ctx);
}

// The clicked point's diamond and the query's star: closed, yellow, outlined dark.
function markerPaint(ctx) {
  ctx.closePath();
  ctx.fillStyle = '#ffd400';
  ctx.fill();
  ctx.strokeStyle = '#111111';
  ctx.lineWidth = 2;
  ctx.stroke();
}

export function render(component) {
  const { data, key, parentElement, setStateValue } = component;
  let view = instances.get(key);
  if (!view) {
    view = new MapView(parentElement, setStateValue);
    instances.set(key, view);
  }
  view.setStateValue = setStateValue;
  view.attach(parentElement);
  view.update(data).catch((error) => view.showStatus(`The map failed: ${error.message}`));
}
