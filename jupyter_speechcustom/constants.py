"""Named defaults, in one place."""

from __future__ import annotations

#: This toolkit's version (``jupyter_speechcustom.__version__``); written into bundles.
VERSION = "0.1.0"

#: Sample rate every bundled model and the demo data use, in Hz.
SAMPLE_RATE = 16_000

#: Name under which the bundled offline demo model is loaded.
DEMO_MODEL_NAME = "demo"

#: Environment variable naming the cache root (KenLM builders, downloaded models).
CACHE_ENV = "SPEECHCUSTOM_CACHE"

#: Environment variable naming a folder that holds ``lmplz`` and ``build_binary``.
KENLM_BIN_ENV = "SPEECHCUSTOM_KENLM_BIN"

#: The command that installs the KenLM builders.
SETUP_COMMAND = "speechcustom setup"

#: The KenLM programs the toolkit runs.
KENLM_BUILDERS = ("lmplz", "build_binary")

#: kenlm sdist version whose sources the builders are compiled from.
KENLM_VERSION = "0.3.0"

#: Utterances per acoustic-model batch.
BATCH_SIZE = 8

#: Token ids are written to token-level ARPA files as chr(id + offset): NeMo's NGPU-LM format.
NGRAM_TOKEN_OFFSET = 100

#: The n-gram orders a custom LM can have, lowest and highest: the KenLM builders are compiled for
#: at most 6 (KenLM's default ``KENLM_MAX_ORDER``). ``choose_order``, ``build_language_model`` and
#: ``speechcustom lm build --order`` all keep to it.
LM_ORDER_RANGE = (2, 6)

#: Times each custom word's spelling is added to the LM text.
CUSTOM_WORD_REPEATS = 3

#: Share of general text when a custom LM is mixed with general sentences.
GENERAL_TEXT_WEIGHT = 0.3

#: Copies of each corpus sentence with spelled-out numbers, its number words drawn at random, that a custom
#: LM is counted on besides the corpus (``jupyter_speechcustom.text.numbers``). The first value tried, not
#: tuned: see the README's "Unseen domains" for what it measured.
NUMBER_VARIANTS = 3

#: The most number variants per sentence a build takes (each adds the sentence's words again).
MAX_NUMBER_VARIANTS = 20

#: Beam search defaults for LM-fused decoding (NeMo ``beam_batch``); ``tune`` refines them. With a
#: custom LM and no tuning, a hybrid decodes with its CTC head at LM_ALPHA and LM_BETA, a transducer
#: head at TRANSDUCER_LM_ALPHA (no length bonus there), a character CTC model (a bonus per letter,
#: not per word piece) at CHARACTER_LM_ALPHA and CHARACTER_LM_BETA. Chosen leave-one-domain-out over
#: four domains, none the one reported (``bench/bench_default_weights.py``); a transducer's alpha is
#: the highest that keeps general speech within 5% of the base.
BEAM_SIZE = 8
#: BEAM_SIZE is a transducer's beam; a search with a length bonus (CTC heads) keeps CTC_BEAM_SIZE: its
#: hypotheses are cheap, and a new domain's LM needs the room (``bench/bench_domains.py``: beam 8 -> 32
#: cut the +LM test WER by 20-33% on all six runs of three domains, general speech too).
CTC_BEAM_SIZE = 32
LM_ALPHA = 1.4
LM_BETA = 5.0
TRANSDUCER_LM_ALPHA = 0.7
CHARACTER_LM_ALPHA = 2.0
CHARACTER_LM_BETA = 3.5
BOOST_ALPHA = 0.0
LM_HEAD = "ctc"

#: ``tune``'s default grid (LM alpha, and beta where the head has a length bonus). Its largest beta is the
#: default's: beta 7 won dev sets of 20 utterances by a few words and raised general WER by 8% (finance,
#: legal; ``bench/bench_domains.py``).
TUNE_LM_ALPHAS = (0.5, 0.7, 1.0, 1.4, 2.0)
TUNE_LM_BETAS = (1.5, 3.5, 5.0)
#: Dev WERs within this of the lowest are ties for ``tune``, won by the point nearest the defaults.
TUNE_TOLERANCE = 0.005
#: ``tune`` keeps the defaults unless its best weights make fewer errors on this share of bootstrap
#: resamples of the dev set (:data:`TUNE_RESAMPLES` of them): a few dozen utterances often cannot tell.
TUNE_CONFIDENCE = 0.95
TUNE_RESAMPLES = 1000

#: Characters the demo character model writes; the default text normalization target.
DEFAULT_ALPHABET = frozenset(" abcdefghijklmnopqrstuvwxyz'")

#: How many of the most frequent English words count as "known" when no training text is given.
KNOWN_WORDS_TOP_N = 100_000

#: Warn when normalization keeps less than this fraction of a corpus's letters, digits and symbols.
MIN_CORPUS_COVERAGE = 0.5

#: A text with more than this fraction of control characters is treated as a binary file.
MAX_CONTROL_CHAR_RATIO = 0.05

#: Out-of-vocabulary words listed in a corpus summary.
SUMMARY_TOP_OOV = 20

#: Key in a custom acoustic model's NeMo config that records its base model.
CUSTOM_AM_KEY = "speechcustom"

#: Recognition cuts longer audio at pauses into segments of at most this many seconds.
SEGMENT_SECONDS = 25.0

#: Recognition first detects speech (Silero VAD): audio without any gets an empty transcript and
#: :data:`NO_SPEECH_NOTE`, and long audio is cut between utterances. ``speech_detection=False``
#: (``Recognizer``, ``acoustic_outputs``) decodes all audio as it is.
SPEECH_DETECTION = True
#: A 32 ms window is speech when the detector's probability is at least this.
SPEECH_THRESHOLD = 0.5
#: Speech shorter than this is ignored; each speech span is padded by ``SPEECH_PAD_SECONDS`` each side.
MIN_SPEECH_SECONDS = 0.25
SPEECH_PAD_SECONDS = 0.1
#: Windows quieter than this RMS (about -80 dBFS) are silence without running the detector.
SILENCE_RMS = 1e-4
#: Pauses longer than this in long audio are skipped (half of it kept each side), not recognized.
SILENCE_SKIP_SECONDS = 2.0
#: Long audio is cut into utterances, decoded apart, at every pause between padded speech spans at
#: least this long (~0.4 s of silence): on the demo's long recording, 8.3% WER with the custom LM
#: instead of 22.6% when cut at the quietest moments into 25 s segments (bench/bench_speech_detection.py).
UTTERANCE_PAUSE_SECONDS = 0.2
#: The note of a transcript of audio in which no speech was detected.
NO_SPEECH_NOTE = "no speech detected (silence, tones or noise only): pass speech_detection=False to decode it anyway"

#: Longest audio accepted for recognition, in seconds.
MAX_AUDIO_SECONDS = 4 * 3600

#: Training utterances must last between these many seconds (longer ones are split).
MIN_TRAIN_SECONDS = 0.5
MAX_TRAIN_SECONDS = 20.0

#: Fine-tuning defaults for small data on CPU.
FINETUNE_LR = 5e-4
FINETUNE_EPOCHS = 10
FINETUNE_BATCH_SIZE = 16
#: Keep pseudo-labelled utterances whose confidence is at least this: the share of the label's words
#: that survive decoding with the acoustic model weighed less against the custom LM, times the square
#: root of their mean posterior relative to the model's median word posterior on the same audio
#: (``asr.confidence``), so it means the same on every model. Chosen on both demo models (character
#: CTC and hybrid TDT-CTC) with ``bench/bench_confidence.py``.
CONFIDENCE_THRESHOLD = 0.94
#: Unless a threshold is given, it is calibrated on the audio being labelled: lowered from
#: CONFIDENCE_THRESHOLD to keep the most confident CONFIDENCE_KEEP_SHARE of its utterances, never below
#: CONFIDENCE_FLOOR. On domains no default was tuned on, 0.94 kept 1-16 of 150 labels, too few to train
#: on; 0.8 kept 13-59 with 9-13% label WER, and the custom AM then cut the errors left by the custom LM
#: by 8-21% (``bench/bench_domains.py``, espeak voices).
CONFIDENCE_KEEP_SHARE = 0.3
CONFIDENCE_FLOOR = 0.8
#: General utterances mixed in per domain utterance, against forgetting.
GENERAL_MIX_RATIO = 0.5

#: Largest single upload (corpus, word list, audio file, bundle) a workspace accepts, in bytes.
MAX_UPLOAD_BYTES = 200 * 1024**2

#: Most bytes an archive (audio archive, bundle) may extract to; counted while extracting.
MAX_ARCHIVE_BYTES = 2 * 1024**3

#: Most entries an archive may hold.
MAX_ARCHIVE_FILES = 10_000

#: Longest line of a corpus, in characters: a longer one is not a sentence (normalizing it whole would
#: take gigabytes), so it is refused with a request to split it into sentences.
MAX_CORPUS_LINE_CHARS = 1_000_000

#: Longest stored file name (stem and extension), in characters.
MAX_FILENAME_LENGTH = 120

#: Least seconds between two progress writes of a job to the workspace index (~4 writes/s).
JOB_PROGRESS_INTERVAL = 0.25

#: Worker threads for light jobs; heavy jobs (training, LM builds) run one at a time.
LIGHT_JOB_WORKERS = 2

#: Seconds a workspace waits for another process's write to the index before giving up.
SQLITE_BUSY_TIMEOUT = 30.0

#: Version of the customization bundle format (``bundle.json``) this toolkit writes.
BUNDLE_FORMAT_VERSION = 1

# --------------------------------------------------------------------------- Studio (widgets)

#: Width of the Studio's form fields (a CSS length).
STUDIO_WIDGET_WIDTH = "440px"

#: Utterances per page in the Studio's comparison view.
STUDIO_UTTERANCES_PER_PAGE = 5

#: Pseudo-label rows per page in the Studio's review table.
STUDIO_LABELS_PER_PAGE = 10

#: Normalized corpus lines shown as the language model's preview.
STUDIO_PREVIEW_LINES = 12

#: Demo dev references prefilled as the perplexity text.
STUDIO_DEV_TEXT_LINES = 30

#: Audio files the Studio's "add demo audio" button adds by default.
STUDIO_DEMO_AUDIO_FILES = 24

#: Niceness of the threads that run heavy jobs (Linux): the kernel's main thread, which handles
#: widget events, then wins the CPU over training. 0 leaves them at the process's priority.
HEAVY_JOB_NICENESS = 10

# --------------------------------------------------------------------------- speech service (server)

#: Largest JSON request body (customizations, words), in bytes.
MAX_JSON_BYTES = 1024**2
#: Deepest nesting of a JSON request body (IBM's bodies nest three levels).
MAX_JSON_DEPTH = 32
#: Largest audio body of ``POST /v1/recognize`` and ``/v1/recognitions``, in bytes (IBM's limit: 100 MB).
MAX_RECOGNIZE_BYTES = 100 * 1024**2
#: Longest audio one HTTP recognition request may hold, in seconds (checked on the header where it
#: has one, and while decoding otherwise).
MAX_RECOGNIZE_SECONDS = 2 * 3600
#: Largest WebSocket message (one audio chunk or control message), in bytes.
MAX_STREAM_MESSAGE_BYTES = 4 * 1024**2
#: Most seconds of audio one WebSocket recognition may stream between its start and stop.
MAX_STREAM_SECONDS = 4 * 3600
#: Largest body of the API-key token exchange, in bytes.
MAX_TOKEN_REQUEST_BYTES = 8 * 1024
#: Longest customization name and description, in characters.
MAX_CUSTOMIZATION_NAME = 128
MAX_DESCRIPTION_CHARS = 4096
#: Longest name of a corpus, word or audio resource of a customization, in characters.
MAX_RESOURCE_NAME = 128
#: Recognizers (a base model with a custom LM and AM) the service keeps loaded.
RECOGNIZER_POOL_SIZE = 8

# --------------------------------------------------------------------------- long recordings

#: Recognition reads a file (or a segment of one) longer than this many seconds a block at a time:
#: speech detection runs over the blocks, and only the speech is then read again, a stretch at a time,
#: for the acoustic model. Memory then follows the block and batch sizes, not the file's length
#: (a 2.6 h silent 16 kHz WAV: 9 MB more RSS instead of 2.3 GB). Shorter audio is loaded whole.
LONG_AUDIO_SECONDS = 300.0
