// The deck's interactive explorer: pick a surface and a method, move the learning-rate (and momentum)
// slider, and the path precomputed at build time for that setting is drawn at once. No server, no
// library, no network: the paths are in the page as JSON, drawn into an SVG over the contour image.
// From the keyboard alone: Tab reaches each control, arrow keys move a slider or change a list (and do
// not turn the slide meanwhile), and a screen reader hears each slider's value (aria-valuetext) and the
// outcome of the run (a polite live region).
(function () {
  function setup(root) {
    var data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
    var q = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
    var surfaceSel = q('surface'), methodSel = q('method'), lrIn = q('lr'), betaIn = q('beta');
    var line = q('path'), start = q('start'), head = q('head'), status = q('status');
    var W = data.width, H = data.height;

    function current() {
      var s = data.surfaces[surfaceSel.value];
      var m = s.methods[methodSel.value];
      return { s: s, m: m, run: m.runs[m.betas ? +betaIn.value : 0][+lrIn.value] };
    }
    function toSvg(s, x, y) {
      return [(x - s.bounds[0][0]) / (s.bounds[0][1] - s.bounds[0][0]) * W,
              (s.bounds[1][1] - y) / (s.bounds[1][1] - s.bounds[1][0]) * H];
    }
    function draw() {
      var c = current(), pts = [], p = c.run.p;
      for (var i = 0; i < p.length; i += 2) { pts.push(toSvg(c.s, p[i] / 1000, p[i + 1] / 1000).join(',')); }
      line.setAttribute('points', pts.join(' '));
      line.setAttribute('stroke', c.m.color);
      var a = pts[0].split(','), b = pts[pts.length - 1].split(',');
      start.setAttribute('cx', a[0]); start.setAttribute('cy', a[1]); start.setAttribute('stroke', c.m.color);
      head.setAttribute('cx', b[0]); head.setAttribute('cy', b[1]); head.setAttribute('fill', c.m.color);
      root.querySelectorAll('img[data-surface]').forEach(function (img) {
        img.style.visibility = img.getAttribute('data-surface') === surfaceSel.value ? 'visible' : 'hidden';
      });
      var lr = c.m.lrs[+lrIn.value].toPrecision(2);
      q('lr-value').textContent = lr;
      lrIn.setAttribute('aria-valuetext', lr);
      q('beta-row').style.visibility = c.m.betas ? 'visible' : 'hidden';
      if (c.m.betas) {
        var beta = String(c.m.betas[+betaIn.value]);
        q('beta-name').textContent = c.m.beta_name;
        q('beta-value').textContent = beta;
        betaIn.setAttribute('aria-valuetext', beta);
      }
      status.textContent = c.run.d >= 0 ? 'diverged at step ' + c.run.d
        : 'loss after ' + data.steps + ' steps: ' + c.run.f;
      q('announce').textContent = c.m.label + ', learning rate ' + lr
        + (c.m.betas ? ', ' + c.m.beta_name + ' ' + beta : '') + ': ' + status.textContent;
    }
    function methodChanged() {
      var m = data.surfaces[surfaceSel.value].methods[methodSel.value];
      lrIn.max = m.lrs.length - 1;
      if (m.betas) { betaIn.max = m.betas.length - 1; if (+betaIn.value > +betaIn.max) betaIn.value = betaIn.max; }
      draw();
    }
    // Range inputs clamp their value to [min, max]: set the ranges first, then the default setting.
    var methods = data.surfaces[surfaceSel.value].methods, anyBetas = null;
    for (var k in methods) { if (methods[k].betas) { anyBetas = methods[k].betas; break; } }
    lrIn.max = methods[methodSel.value].lrs.length - 1;
    lrIn.value = data.default_lr_index;
    if (anyBetas) { betaIn.max = anyBetas.length - 1; betaIn.value = data.default_beta_index; }
    // reveal.js turns the slide on arrow keys unless an input has focus; a list (select) has them too.
    q('controls').addEventListener('keydown', function (e) { e.stopPropagation(); });
    surfaceSel.addEventListener('change', methodChanged);
    methodSel.addEventListener('change', methodChanged);
    lrIn.addEventListener('input', draw);
    betaIn.addEventListener('input', draw);
    methodChanged();
  }
  document.querySelectorAll('.explorer').forEach(setup);
})();
