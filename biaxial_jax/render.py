"""Output a person can see and hear: piano-roll PNGs, WAV renders through FluidSynth, and an HTML listening page.

Every file appears whole or not at all (written beside its target, then renamed).
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
import wave

import mido
import numpy as np

from biaxial_jax.music.files import atomic_path
from biaxial_jax.music.piece import ARTICULATE, PLAY, Piece

SOUNDFONTS = ('/usr/share/sounds/sf2/FluidR3_GM.sf2', '/usr/share/sounds/sf2/TimGM6mb.sf2',
              '/usr/share/sounds/sf2/default-GM.sf2', '/usr/share/soundfonts/default.sf2',
              '/usr/share/soundfonts/FluidR3_GM.sf2')
NOTE_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')


def piano_roll_png(piece: Piece, path: str, *, title: str = '', given: np.ndarray | None = None) -> str:
  """Time on x with bar lines, pitch on y labelled at every C; a held note is a bar, each strike a dark tick.
  `given` (`bool[T, N]`): notes that were given (a melody, a primer, a motif), drawn in orange."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  play = piece.roll[..., PLAY].T.astype(float)
  strikes = piece.roll[..., ARTICULATE].T.astype(bool)
  sounding = np.flatnonzero(play.any(axis=1))
  lo, hi = (max(int(sounding[0]) - 3, 0), min(int(sounding[-1]) + 4, piece.num_notes)) if sounding.size else (0, 1)
  fig, ax = plt.subplots(figsize=(min(4 + piece.num_steps / 16, 40), 4 + (hi - lo) / 12), dpi=80)
  image = np.where(strikes, 1.0, play * 0.55)[lo:hi]
  ax.imshow(image, origin='lower', aspect='auto', cmap='Blues', vmin=0, vmax=1, interpolation='nearest',
            extent=(0, piece.num_steps, lo - 0.5, hi - 0.5))
  if given is not None and given.any():
    marked = np.where(given.T & strikes, 1.0, np.where(given.T & (play > 0), 0.6, np.nan))[lo:hi]
    ax.imshow(marked, origin='lower', aspect='auto', cmap='Oranges', vmin=0, vmax=1, interpolation='nearest',
              extent=(0, piece.num_steps, lo - 0.5, hi - 0.5))
  for step in np.flatnonzero(piece.bar_position == 0):
    ax.axvline(step, color='0.6', linewidth=0.8)
  cs = [n for n in range(lo, hi) if (piece.lowest + n) % 12 == 0]
  ax.set_yticks(cs, [f'C{(piece.lowest + n) // 12 - 1}' for n in cs])
  ax.set_xlabel(f'step ({piece.steps_per_quarter} per quarter note; grey lines: bar lines'
                + ('; orange: given notes)' if given is not None and given.any() else ')'))
  ax.set_title(title or piece.name)
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, format='png')
  plt.close(fig)
  return path


def find_soundfont() -> str | None:
  """A General MIDI soundfont: `$BIAXIAL_JAX_SOUNDFONT`, else a Debian package's (fluid-soundfont-gm...)."""
  candidates = [os.environ.get('BIAXIAL_JAX_SOUNDFONT', '')] + list(SOUNDFONTS)
  return next((c for c in candidates if c and os.path.isfile(c)), None)


def render_wav(midi_path: str, wav_path: str, *, sample_rate: int = 44100) -> tuple[str | None, str]:
  """Renders a MIDI file with FluidSynth; returns (the WAV path or None, a one-line note when it was skipped).
  The WAV is published only when it is whole: FluidSynth exits 0 after a failed write (a full disk), so its length
  is checked against the MIDI file's."""
  fluidsynth, soundfont = shutil.which('fluidsynth'), find_soundfont()
  if not fluidsynth or not soundfont:
    missing = 'fluidsynth' if not fluidsynth else 'a General MIDI soundfont'
    return None, (f'no WAV: {missing} not found (apt-get install fluidsynth fluid-soundfont-gm, or set '
                  'BIAXIAL_JAX_SOUNDFONT)')
  try:
    with atomic_path(wav_path) as tmp:
      result = subprocess.run([fluidsynth, '-ni', '-g', '0.8', '-F', tmp, '-r', str(sample_rate), soundfont,
                               midi_path], capture_output=True, text=True, timeout=600, check=False)
      if result.returncode != 0 or not os.path.getsize(tmp):
        raise _RenderFailed(f'fluidsynth failed ({result.stderr.strip().splitlines()[-1:] or result.returncode})')
      expected = mido.MidiFile(midi_path).length
      try:
        with wave.open(tmp) as w:
          seconds = w.getnframes() / w.getframerate()
      except (wave.Error, EOFError) as e:
        raise _RenderFailed(f'fluidsynth wrote an unreadable WAV ({e})') from None
      if seconds < expected - 0.05:
        raise _RenderFailed(f'fluidsynth wrote {seconds:.2f} s of {expected:.2f} s (is the disk full?)')
  except _RenderFailed as e:
    return None, f'no WAV: {e}'
  except OSError as e:
    return None, f'no WAV: {wav_path}: {e.strerror or e}'
  return wav_path, ''


def score_png(musicxml_path: str, png_path: str) -> tuple[str | None, str]:
  """Engraves a MusicXML score as a PNG with LilyPond (`musicxml2ly`, then `lilypond --png -dcrop`), where it is
  installed; returns (the PNG path or None, a one-line note when it was skipped)."""
  musicxml2ly, lilypond = shutil.which('musicxml2ly'), shutil.which('lilypond')
  if not musicxml2ly or not lilypond:
    return None, 'no rendered score: LilyPond not found (apt-get install lilypond)'
  with tempfile.TemporaryDirectory() as work:
    ly = os.path.join(work, 'score.ly')
    for command in ([musicxml2ly, '--no-beaming', '-o', ly, os.path.abspath(musicxml_path)],
                    [lilypond, '--png', '-dresolution=100', '-dcrop', '-dno-point-and-click', '-o',
                     os.path.join(work, 'score'), ly]):
      try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=work)
      except subprocess.TimeoutExpired:
        return None, f'no rendered score: {os.path.basename(command[0])} took over 300 s'
      if result.returncode != 0:
        return None, f'no rendered score: {os.path.basename(command[0])} failed ({result.returncode})'
    cropped = os.path.join(work, 'score.cropped.png')
    if not os.path.exists(cropped):
      return None, 'no rendered score: LilyPond wrote no PNG'
    with atomic_path(png_path) as tmp:
      shutil.copyfile(cropped, tmp)
  return png_path, ''


class _RenderFailed(Exception):
  """A WAV that must not be published (raised inside `atomic_path`, which then removes it)."""


def index_html(entries: list[dict], path: str, *, title: str = 'biaxial-jax samples',
               settings: list[tuple[str, str]] = ()) -> str:
  """A page listing every sample: piano roll, audio player (where a WAV exists), MIDI and MusicXML links; opens from
  disk. `settings`: (name, value) pairs shown at the top (the checkpoint, input files, every control, the seed).

  Each entry: `name`, `midi`, `png`, optional `musicxml`, `score_png` (the engraved score), `wav`, `no_audio` (why
  there is none), `info` and `warning` (file names relative to the page's folder).
  """
  rows = []
  for e in entries:
    warning = f'<p class="warning">{html.escape(e["warning"])}</p>' if e.get('warning') else ''
    audio = (f'<audio controls preload="metadata" src="{html.escape(e["wav"])}"></audio>' if e.get('wav')
             else f'<p class="note">no audio: {html.escape(e.get("no_audio") or "none was rendered")}</p>')
    score = f' <a href="{html.escape(e["musicxml"])}" download>MusicXML</a>' if e.get('musicxml') else ''
    engraved = (f'<img class="score" src="{html.escape(e["score_png"])}" alt="score of {html.escape(e["name"])}">'
                if e.get('score_png') else '')
    rows.append(f'''<section>
  <h2>{html.escape(e["name"])}</h2>
  <p>{html.escape(e.get("info", ""))} <a href="{html.escape(e["midi"])}" download>MIDI</a>{score}</p>
  {warning}{audio}
  <div class="views"><img src="{html.escape(e["png"])}" alt="piano roll of {html.escape(e["name"])}">{engraved}</div>
</section>''')
  table = ''
  if settings:
    table = '<table class="settings">' + ''.join(f'<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>'
                                                 for k, v in settings) + '</table>'
  page = f'''<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:100%}} img{{max-width:100%;border:1px solid #ccc}}
section{{margin-bottom:2em}} .views{{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}}
.views img{{flex:1 1 480px;min-width:0}} img.score{{background:#fff}} .note{{color:#777}} .warning{{color:#a40}}
.settings th{{text-align:left;padding-right:1em;font-weight:normal;color:#555}}</style></head>
<body><h1>{html.escape(title)}</h1>
{table}
{chr(10).join(rows)}
</body></html>
'''
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(page)
  return path


def statistics_plot(comparison: dict, path: str) -> str:
  """Generated vs real: pitch classes, polyphony and note lengths as side-by-side bars (`metrics.compare` output)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  panels = (('pitch_classes', 'pitch class', list(NOTE_NAMES)), ('polyphony', 'notes sounding', None),
            ('note_lengths', 'note length (steps)', None))
  fig, axes = plt.subplots(1, 3, figsize=(16, 4), dpi=80)
  for ax, (key, label, names) in zip(axes, panels):
    gen, real = comparison['generated'][key], comparison['real'][key]
    x = np.arange(len(gen))
    ax.bar(x - 0.2, real, 0.4, label='real')
    ax.bar(x + 0.2, gen, 0.4, label='generated')
    ax.set_xlabel(label)
    ax.set_title(f'{label}: distance {comparison["distance"][key]:.3f}')
    if names:
      ax.set_xticks(x, names)
  axes[0].set_ylabel('share')
  axes[0].legend()
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, format='png')
  plt.close(fig)
  return path
