"""The tables `experiments/evaluate.py` writes: markdown, one row per statistic, one column per set of pieces."""

from __future__ import annotations


HARMONY_ROWS = (('complete major/minor triads, share of beats', 'share_triad'),
                ('diminished/augmented triads', 'share_dim_aug'), ('seventh chords', 'share_seventh'),
                ('incomplete chords', 'share_incomplete'), ('other (non-tertian) sonorities', 'share_other'),
                ('a minor second directly under the top voice', 'clash_share'), ('5 or more notes', 'crowded_share'),
                ('downbeats on a major/minor triad (not six-four)', 'consonant_downbeat_share'),
                ('cadences per 4 bars', 'cadences_per_4_bars'),
                ('4-bar windows in the piece\'s key', 'key_window_share'),
                ('4-bar windows in its key or the relative one', 'key_signature_window_share'),
                ('phrase ends on a root-position major/minor triad, share of them', 'phrase_end_triad_share'),
                ('phrase ends reached by a bass 4th/5th, share of them', 'phrase_end_leap_share'),
                ('final chord a root-position major/minor triad', 'final_root_position_triad_share'),
                ("final chord the key's tonic triad in root position", 'final_tonic_triad_share'),
                ('parallel fifths per 100 chord transitions', 'parallel_fifths_per_100'),
                ('parallel octaves/unisons per 100 chord transitions', 'parallel_octaves_per_100'),
                ('onsets where every voice sounds', 'every_voice_share'),
                ('onsets with two voices crossed', 'crossed_share'),
                ('onsets with upper voices over an octave apart', 'spread_share'),
                ('chords inside one voice (steps)', 'chords_in_voice'),
                ('scores of exactly four voices', 'four_voice_share'),
                ('median lowest pitch per 4-bar window (MIDI)', 'register_low_median'),
                ('median highest pitch per 4-bar window (MIDI)', 'register_high_median'))
RANGE_ROWS = ('soprano_range', 'alto_range', 'tenor_range', 'bass_range')


def harmony_table(columns: dict) -> str:
  """Harmonic statistics side by side, one column per set of pieces."""
  lines = ['| per beat (unless said) | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
  lines += [f'| {label} | ' + ' | '.join(f'{c[key]:.3f}' for c in columns.values()) + ' |'
            for label, key in HARMONY_ROWS]
  lines += [f'| {key.replace("_", " ")} (MIDI) | ' + ' | '.join(f'{c[key][0]}-{c[key][1]}' for c in columns.values())
            + ' |' for key in RANGE_ROWS]
  lines.append('| pieces / beats | ' + ' | '.join(f'{c["pieces"]} / {c["beats"]}' for c in columns.values()) + ' |')
  return '\n'.join(lines)


def music_table(comparison: dict) -> str:
  gen, real = comparison['generated'], comparison['real']
  rows = [('mean notes sounding', 'mean_polyphony'), ('silent steps', 'silent_share'),
          ('repeated (re-struck) notes', 'repeated_share'), ('in-key note steps', 'in_key_share')]
  lines = ['| statistic | generated | real |', '|---|---|---|']
  lines += [f'| {label} | {gen[key]:.3f} | {real[key]:.3f} |' for label, key in rows]
  lengths = {n: (gen['note_lengths'][n], real['note_lengths'][n]) for n in (1, 2, 3, 4, 6, 8, 12, 16)}
  lines += [f'| notes of {n} steps | {g:.3f} | {r:.3f} |' for n, (g, r) in lengths.items()]
  lines += [f'| distance of {k.replace("_", " ")} histograms | {v:.3f} | |'
            for k, v in comparison['distance'].items()]
  if 'longest_copied_bars' in comparison:
    lines.append(f'| longest run of bars copied from training (transposed) | {comparison["longest_copied_bars"]} | '
                 f'{comparison["longest_copied_bars_real"]} |')
  harmony = harmony_table({'generated': comparison['harmony_generated'], 'real': comparison['harmony_real']})
  return '\n'.join(lines) + '\n\n' + harmony


def harmonize_table(result: dict) -> str:
  sets = {'sopranos': 'sopranos harmonized', 'folk': 'folk songs harmonized',
          'folk_heard': 'folk songs, phrases heard'}
  columns = {label: result[k]['generated'] for k, label in sets.items() if k in result}
  columns["Bach's harmonizations"] = result['bach']
  studies = [result[k] for k in sets if k in result]
  unmet = ', '.join(f'{label} {result[k]["with_unmet_requirement"]}/{result[k]["outputs"]}'
                    for k, label in sets.items() if k in result)
  return (harmony_table(columns) + f'\n\nharmonizations with an unmet requirement: {unmet}\n\nmelody exact in every '
          f'output: {all(s["melody_exact"] == s["outputs"] for s in studies)}; '
          f'{sum(s["outputs"] for s in studies)} outputs in {sum(s["seconds"] for s in studies):.0f} s')


def joins_table(result: dict) -> str:
  lines = ['| case | join NLL/step | median step elsewhere | ratio | median same-place window elsewhere | ratio |',
           '|---|---|---|---|---|---|']
  lines += [f'| {name} | {r["join_nll"]:.3f} | {r["median_step_nll_elsewhere"]:.3f} | {r["ratio_to_median_step"]:.2f} '
            f'| {r["median_window_nll_elsewhere"]:.3f} | {r["ratio_to_median_window"]:.2f} |'
            for name, r in result['cases'].items()]
  return '\n'.join(lines)


def styles_table(result: dict) -> str:
  lines = [f'| style | classifier on real {result["split"]} passages | generated pieces classified as asked | '
           'classified as (generated) |', '|---|---|---|---|']
  for style in result['styles']:
    row = ', '.join(f'{other} {count}' for other, count in result['confusion'][style].items() if count)
    lines.append(f'| {style} | {result["real"].get(style, float("nan")):.2f} | '
                 f'{result["generated"].get(style, float("nan")):.2f} | {row} |')
  lines.append(f'\nchance: {result["chance"]:.2f}')
  if 'dynamics' in result:
    lines += ['', '| style | velocities of | pieces | mean | share per bin 1-16 ... 113-127 | bar-to-bar std |',
              '|---|---|---|---|---|---|']
    for style, sides in result['dynamics'].items():
      for side, profile in sides.items():
        if profile['pieces']:
          lines.append(f'| {style} | {side} | {profile["pieces"]} | {profile["mean"]:.1f} | '
                       f'{" ".join(f"{x:.2f}" for x in profile["histogram"])} | {profile["bar_to_bar_std"]:.1f} |')
  return '\n'.join(lines)
