"""What a person sees and hears: the samples page in a real browser (headless Chromium, where installed: its piano
rolls load, its audio shows a duration before it is played, it names the settings), and WAVs published only whole."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import biaxial_jax as bj
from biaxial_jax import render

CHROMIUM = next((shutil.which(name) for name in ('chromium', 'chromium-browser', 'google-chrome')
                 if shutil.which(name)), None)
# Appended to a copy of the page: after load, what the browser made of the images and the audio, into the DOM.
PROBE = '''<script>
window.addEventListener('load', () => {
  document.body.dataset.images = [...document.images].map(i => i.naturalWidth).join(',');
  const audio = [...document.querySelectorAll('audio')];
  const report = () => { document.body.dataset.durations = audio.map(a => a.duration.toFixed(2)).join(','); };
  report();
  audio.forEach(a => a.addEventListener('loadedmetadata', report));
});
</script>'''


@pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (apt-get install chromium)')
def test_the_page_loads_its_rolls_and_audio_in_chromium(tmp_path):
  roll = np.zeros((32, 78, 2), np.uint8)
  for start, pitch in ((0, 60), (8, 64), (16, 67), (24, 72)):
    roll[start:start + 8, pitch - 24] = [1, 0]
    roll[start, pitch - 24, 1] = 1
  piece = bj.Piece(roll)
  midi = bj.write_midi(piece, tmp_path / 's.mid')
  render.piano_roll_png(piece, str(tmp_path / 's.png'), title='s')
  wav, why = render.render_wav(midi, str(tmp_path / 's.wav'))
  page = render.index_html([{'name': 's', 'midi': 's.mid', 'png': 's.png', 'wav': wav and 's.wav',
                             'no_audio': why, 'info': 'a test'}], str(tmp_path / 'index.html'),
                           settings=[('--seed', '3'), ('--harmonize', 'tune.musicxml')])
  probe = tmp_path / 'probe.html'
  probe.write_text(open(page).read().replace('</body>', PROBE + '</body>'))
  dom = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files',
                        '--virtual-time-budget=10000', '--dump-dom', probe.as_uri()],
                       capture_output=True, text=True, timeout=120).stdout
  assert 'data-images="' in dom and int(dom.split('data-images="')[1].split('"')[0]) > 0  # the roll loaded
  assert '<th>--seed</th><td>3</td>' in dom and 'tune.musicxml' in dom
  if wav:
    durations = dom.split('data-durations="')[1].split('"')[0]
    assert float(durations) > 4, durations  # 8 beats at 120 qpm, known before anyone presses play
  else:
    assert 'no audio: no WAV' in dom


FAKE_FLUIDSYNTH = """#!{python}
import sys, wave
out = sys.argv[sys.argv.index('-F') + 1]
with wave.open(out, 'wb') as w:  # what a write that failed half-way leaves: a tenth of a second, and exit 0
  w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100); w.writeframes(bytes(4 * 4410))
"""


def test_a_truncated_render_is_not_published(tmp_path, monkeypatch):
  roll = np.zeros((32, 78, 2), np.uint8)
  roll[:, 36] = [1, 0]
  roll[0, 36, 1] = 1
  midi = bj.write_midi(bj.Piece(roll), tmp_path / 's.mid')  # 8 beats at 120 qpm: 4 s
  fake = tmp_path / 'bin' / 'fluidsynth'
  fake.parent.mkdir()
  fake.write_text(FAKE_FLUIDSYNTH.format(python=sys.executable))
  fake.chmod(0o755)
  (tmp_path / 'font.sf2').write_bytes(b'sf2')
  monkeypatch.setenv('PATH', f'{fake.parent}{os.pathsep}{os.environ["PATH"]}')
  monkeypatch.setenv('BIAXIAL_JAX_SOUNDFONT', str(tmp_path / 'font.sf2'))
  wav, why = render.render_wav(midi, str(tmp_path / 's.wav'))
  assert wav is None and why == 'no WAV: fluidsynth wrote 0.10 s of 4.00 s (is the disk full?)'
  assert sorted(os.listdir(tmp_path)) == ['bin', 'font.sf2', 's.mid']  # nothing half-written left behind


@pytest.mark.skipif(shutil.which('lilypond') is None or shutil.which('musicxml2ly') is None,
                    reason='LilyPond is not installed (apt-get install lilypond)')
def test_a_score_is_engraved_and_shown_beside_the_roll(tmp_path):
  from music21 import corpus  # pylint: disable=import-outside-toplevel
  from biaxial_jax.music.scores import score_to_piece  # pylint: disable=import-outside-toplevel
  piece = score_to_piece(corpus.parse('bach/bwv269'), 'bwv269')
  xml = bj.write_musicxml(piece, tmp_path / 'c.musicxml')
  png, why = render.score_png(xml, str(tmp_path / 'c.score.png'))
  assert png and not why and open(png, 'rb').read(4) == b'\x89PNG'
  render.piano_roll_png(piece, str(tmp_path / 'c.png'))
  page = render.index_html([{'name': 'c', 'midi': 'c.mid', 'png': 'c.png', 'score_png': 'c.score.png'}],
                           str(tmp_path / 'index.html'))
  assert '<div class="views"><img src="c.png"' in open(page).read() and 'src="c.score.png"' in open(page).read()
  missing, why = render.score_png(str(tmp_path / 'nothing.musicxml'), str(tmp_path / 'x.png'))
  assert missing is None and why.startswith('no rendered score: musicxml2ly failed')
