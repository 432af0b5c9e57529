"""The synthetic corpus's ontology: its class ids, their captions and how each is made.

Taught in chapter 6 (Data), used from chapter 4 (QueryNet) on. Plain Python data, no torch:
the query encoders (:class:`lassnet.query.label.LabelEncoder`'s default table), the corpus
(:mod:`lassnet.data.synthetic`, which re-exports these names) and the training and evaluation
code all read the same lists from here.

* :data:`CLASSES`: the 14 class ids, in a fixed order (the order of :data:`CAPTIONS`).
* :data:`CAPTIONS`: ``class → five natural-language paraphrases`` of what it sounds like.
* :data:`DESCRIPTIONS`: ``class → one line`` on the signal recipe that makes it.
"""

from __future__ import annotations

__all__ = ["CLASSES", "CAPTIONS", "DESCRIPTIONS"]

#: Captions of every class: the text queries the separator learns from.
CAPTIONS: dict[str, tuple[str, ...]] = {
    "siren": (
        "a siren wailing",
        "an emergency siren going up and down",
        "the wail of an ambulance siren",
        "a police siren",
        "a fire engine siren passing by",
    ),
    "telephone_ring": (
        "a telephone ringing",
        "an old phone ringing",
        "the ring of a landline telephone",
        "a phone rings again and again",
        "a ringing telephone",
    ),
    "bell": (
        "a bell ringing",
        "a church bell tolling",
        "the chime of a bell",
        "someone striking a bell",
        "a ringing bell fading away",
    ),
    "plucked_string": (
        "a guitar being plucked",
        "plucked strings",
        "someone plucking a string instrument",
        "a harp playing a few notes",
        "notes picked on an acoustic guitar",
    ),
    "engine_idling": (
        "an engine idling",
        "a car engine running at idle",
        "the low rumble of an idling motor",
        "a truck engine ticking over",
        "a motor running in neutral",
    ),
    "rain": (
        "rain falling",
        "heavy rain",
        "the patter of rain",
        "rain pouring down",
        "raindrops falling on a roof",
    ),
    "wind": (
        "wind blowing",
        "a strong wind howling",
        "a gusty wind",
        "the sound of the wind",
        "wind whooshing through trees",
    ),
    "clock_ticking": (
        "a clock ticking",
        "the ticking of a clock",
        "a wall clock going tick-tock",
        "a watch ticking steadily",
        "the regular ticks of a clock",
    ),
    "bird_chirping": (
        "birds chirping",
        "a bird singing",
        "birdsong",
        "small birds tweeting",
        "a songbird chirping in the morning",
    ),
    "drum": (
        "a drum beating",
        "someone playing the drums",
        "a drum rhythm",
        "percussion being played",
        "a drummer playing a beat",
    ),
    "alarm_beeping": (
        "an alarm beeping",
        "a beeping alarm",
        "an alarm clock going off",
        "electronic beeps",
        "a smoke alarm beeping",
    ),
    "electrical_hum": (
        "an electrical hum",
        "the hum of mains electricity",
        "a buzzing transformer",
        "a low electric buzz",
        "a humming power line",
    ),
    "whistling": (
        "someone whistling",
        "a person whistling a tune",
        "a man whistling",
        "whistling a melody",
        "a whistled tune",
    ),
    "water_dripping": (
        "water dripping",
        "a dripping tap",
        "drops of water falling",
        "a leaky faucet dripping",
        "water drops plopping into a sink",
    ),
}

#: How each class is made, in one line (shown by :func:`class_table`).
DESCRIPTIONS: dict[str, str] = {
    "siren": "a harmonic tone whose pitch sweeps up and down (slow wail, fast yelp or whoop)",
    "telephone_ring": "two close tones (beating) in ring bursts, often with a fast trill",
    "bell": "inharmonic partials (hum, prime, minor third, fifth, nominal...) decaying",
    "plucked_string": "Karplus–Strong: a noise burst circulating in a damped delay line",
    "engine_idling": "a low pulse train through body resonances, plus noise, with wobble",
    "rain": "dense random impulses through resonant filters over a hiss",
    "wind": "noise through slowly drifting band-pass filters, with gusts",
    "clock_ticking": "regular short resonant clicks (tick, or tick-tock)",
    "bird_chirping": "short, fast frequency-modulated chirps, high, in phrases",
    "drum": "decaying pitched noise bursts with a falling pitch, in a repeating rhythm",
    "alarm_beeping": "square-ish tone bursts in a regular beep pattern",
    "electrical_hum": "mains harmonics (50 or 60 Hz and multiples), steady",
    "whistling": "a sine with vibrato, gliding between the notes of a tune",
    "water_dripping": "resonant drops: short decaying tones with a rising pitch",
}

#: The class ids, in a fixed order.
CLASSES: tuple[str, ...] = tuple(CAPTIONS)
