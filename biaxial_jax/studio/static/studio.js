// The studio page: sends forms to the API, follows the job, shows the score, the piano roll and the versions,
// plays the notes with Web Audio, and regenerates the bars selected on the piano roll.
'use strict';

const $ = (id) => document.getElementById(id);
const versions = [];  // results in the order they were made
let current = null;   // the result shown
let selection = null; // [first_bar, last_bar]
let job = null;
let audio = null;

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function controlFields(form) {
  const data = new FormData(form || undefined);
  for (const input of $('controls').querySelectorAll('input')) {
    if (input.value.trim()) data.append(input.name, input.value.trim());
  }
  return data;
}

async function submit(path, data, what) {
  setStatus(`${what}: sending...`);
  let response;
  try {
    response = await fetch(`${path}?wait=0`, {method: 'POST', body: data});
  } catch (e) {
    return setStatus(`${what}: the server cannot be reached (${e})`, true);
  }
  const answer = await response.json();
  if (!response.ok) return setStatus(`${what}: ${answer.error}`, true);
  job = answer.job.id;
  $('cancel').hidden = false;
  follow(job, what);
}

async function follow(id, what) {
  const started = Date.now();
  while (job === id) {
    const response = await fetch(`/api/jobs/${id}`);
    const status = await response.json();
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (status.state === 'queued') setStatus(`${what}: waiting (${status.ahead} ahead), ${seconds} s`);
    else if (status.state === 'running') setStatus(`${what}: sampling, ${seconds} s`);
    else {
      job = null;
      $('cancel').hidden = true;
      if (status.state === 'done') {
        setStatus(`${what}: done in ${status.seconds} s (version ${status.result.version})`);
        versions.push(status.result);
        show(status.result);
      } else if (status.state === 'failed') setStatus(`${what}: ${status.error}`, true);
      else setStatus(`${what}: ${status.state}`, true);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function show(result) {
  current = result;
  selection = null;
  $('regenerate').disabled = true;
  $('selection').textContent = 'Drag over the piano roll to select bars.';
  $('result').hidden = false;
  $('score').innerHTML = result.svg || '<p>(Install the studio extra for the engraved score.)</p>';
  $('download-musicxml').href = `/api/versions/${result.version}/score.musicxml`;
  $('download-midi').href = `/api/versions/${result.version}/music.mid`;
  $('download-wav').href = `/api/versions/${result.version}/music.wav`;
  drawRoll();
  const list = $('versions');
  list.innerHTML = '';
  for (const v of versions) {
    const item = document.createElement('li');
    item.textContent = `version ${v.version}: ${v.label}${v.key ? ', ' + v.key : ''}`;
    item.dataset.version = v.version;
    if (v === current) item.className = 'current';
    item.onclick = () => show(v);  // going back to an earlier version is the undo
    list.appendChild(item);
  }
}

function rollGeometry() {
  const canvas = $('roll');
  const pitches = current.notes.map((n) => n.pitch);
  const low = Math.min(...pitches, 60) - 2, high = Math.max(...pitches, 72) + 2;
  return {canvas, low, high, x: canvas.width / current.steps, y: canvas.height / (high - low + 1)};
}

function drawRoll() {
  const g = rollGeometry(), ctx = g.canvas.getContext('2d');
  ctx.clearRect(0, 0, g.canvas.width, g.canvas.height);
  if (selection) {
    ctx.fillStyle = '#fff3c4';
    const [a, b] = barSteps(selection[0], selection[1]);
    ctx.fillRect(a * g.x, 0, (b - a) * g.x, g.canvas.height);
  }
  ctx.strokeStyle = '#bbb';
  for (const step of current.bars) {
    ctx.beginPath(); ctx.moveTo(step * g.x, 0); ctx.lineTo(step * g.x, g.canvas.height); ctx.stroke();
  }
  for (const n of current.notes) {
    ctx.fillStyle = n.given ? '#c0392b' : '#2c3e50';  // given notes (the melody) in red
    ctx.fillRect(n.start * g.x + 1, (g.high - n.pitch) * g.y, (n.end - n.start) * g.x - 2, g.y - 1);
  }
}

function barAt(step) {  // current.bars[k] is where bar k starts (bar 0, a pickup, is empty where there is none)
  let bar = 0;
  current.bars.forEach((start, i) => { if (step >= start) bar = i; });
  return bar;
}

function barSteps(first, last) {
  const ends = current.bars.concat([current.steps]);
  return [ends[first], ends[last + 1]];
}

function stepAt(event) {
  const rect = $('roll').getBoundingClientRect();
  return Math.floor((event.clientX - rect.left) / rect.width * current.steps);
}

let dragFrom = null;
$('roll').addEventListener('mousedown', (e) => { dragFrom = barAt(stepAt(e)); });
$('roll').addEventListener('mouseup', (e) => {
  if (dragFrom === null) return;
  const to = barAt(stepAt(e));
  selection = [Math.min(dragFrom, to), Math.max(dragFrom, to)];
  dragFrom = null;
  $('selection').textContent = `bars ${selection[0]}-${selection[1]} selected`;
  $('regenerate').disabled = false;
  drawRoll();
});

$('regenerate').onclick = () => {
  if (!current || !selection) return;
  const data = controlFields(null);
  for (const name of ['key', 'phrases', 'ending', 'style']) data.delete(name);  // the version's own are kept
  data.append('version', current.version);
  data.append('first_bar', selection[0]);
  data.append('last_bar', selection[1]);
  if ($('voice').value !== '') data.append('voice', $('voice').value);
  submit('/api/regenerate', data, `regenerating bars ${selection[0]}-${selection[1]}`);
};

$('harmonize-form').onsubmit = (e) => {
  e.preventDefault();
  submit('/api/harmonize', controlFields($('harmonize-form')), 'harmonizing');
};
$('compose-form').onsubmit = (e) => {
  e.preventDefault();
  const data = controlFields($('compose-form'));
  submit('/api/compose', data, 'composing');
};
$('cancel').onclick = async () => {
  if (job) await fetch(`/api/jobs/${job}/cancel`, {method: 'POST'});
};

$('play').onclick = () => {
  stop();
  audio = new AudioContext();
  const secondsPerStep = 60 / current.qpm / current.steps_per_quarter;
  const t0 = audio.currentTime + 0.1;
  for (const n of current.notes) {
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = 'triangle';
    osc.frequency.value = 440 * Math.pow(2, (n.pitch - 69) / 12);
    const start = t0 + n.start * secondsPerStep, end = t0 + n.end * secondsPerStep;
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(0.12, start + 0.01);
    gain.gain.setValueAtTime(0.12, Math.max(start + 0.01, end - 0.03));
    gain.gain.linearRampToValueAtTime(0, end);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(end + 0.01);
  }
};
function stop() {
  if (audio) audio.close();
  audio = null;
}
$('stop').onclick = stop;
