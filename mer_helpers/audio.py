"""Audio decoding and fixed-length chunking.

One decoder, :func:`decode_audio`, reads every audio file the package touches (training features, validation,
prediction). It decodes in blocks of ``block_seconds``, mixes each block down and feeds it to a streaming soxr
resampler ("HQ", librosa's default quality), so its peak memory is about the size of its output — not of the
whole file at its native rate and channel count. It says what it decoded: the real length, the length the
header declares and whether the file is truncated. It never returns memory it did not decode: every block is
cut to the frame count the decoder reports. :func:`load_audio` is a thin wrapper that returns its samples.

Decoders: libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, AU, ...) first; audioread (ffmpeg, GStreamer or
Core Audio when one is installed; plain WAV/AIFF/AU otherwise) for what libsndfile cannot open (AAC/M4A need
ffmpeg).

Notebook: 02_spectrograms_and_features.ipynb
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_helpers.errors import AudioError, ParameterError

__all__ = ["decode_audio", "DecodedAudio", "load_audio", "chunk_audio", "audio_duration", "AUDIO_EXTENSIONS",
           "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE"]

#: File endings the loaders and folder scanners treat as audio. ``.aac``, ``.m4a`` and ``.wma`` need ffmpeg
#: (through audioread); without it they are listed as unreadable with that reason, never silently ignored.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif", ".m4a", ".aac", ".opus", ".wma")
#: Formats libsndfile cannot decode: only audioread with an ffmpeg/GStreamer backend can.
_NEEDS_FFMPEG = (".aac", ".m4a", ".mp4", ".wma")

#: Native sample rates outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] Hz are refused as damaged headers: a WAV
#: declared at 1 Hz would otherwise be resampled to 22050× its own length (a ``MemoryError`` for any batch).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000

#: A file is ``truncated`` when it decodes to less than its header declares by more than this many seconds
#: and this fraction of the declared length (lossy codecs differ from their headers by a few ms of padding).
_TRUNCATION_SECONDS = 0.25
#: Frames asked of libsndfile per read (the read pattern, and so the samples, never depend on the caller).
_READ_FRAMES = 1 << 15
_TRUNCATION_FRACTION = 0.02


@dataclass(frozen=True, eq=False)
class DecodedAudio:
    """What :func:`decode_audio` read from one file.

    Attributes
    ----------
    samples : np.ndarray [shape=(n,) if mono else (channels, n)], float32
        The decoded samples at ``sr`` (not renormalised; in [-1, 1] for integer formats).
    sr : int
        Rate of ``samples`` in Hz (the requested rate, or ``native_sr`` when none was requested).
    native_sr : int
        The file's own sample rate in Hz.
    channels : int
        The file's channel count (``samples`` has one row when mono).
    seconds : float
        Audio actually decoded (of the excerpt, when ``offset``/``duration`` were given), in seconds.
    declared_seconds : float or None
        Length the header declares, ``None`` when the format does not say.
    truncated : bool
        The file decodes to clearly less than ``declared_seconds`` (a cut download, a damaged copy).
    path : str
        The file.
    decoder : {"libsndfile", "audioread"}
        Which decoder read it.
    """

    samples: np.ndarray = field(repr=False)
    sr: int
    native_sr: int
    channels: int
    seconds: float
    declared_seconds: float | None
    truncated: bool
    path: str = ""
    decoder: str = "libsndfile"

    @property
    def truncation_note(self) -> str:
        """A sentence on the truncation (empty when the file is complete)."""
        if not self.truncated:
            return ""
        return (f"the file is truncated: it decodes to {self.seconds:.2f} s of the {self.declared_seconds:.2f} s "
                "its header declares (a cut download or damaged copy; replace it)")


# ------------------------------------------------------------------------------------------------------------
# Sources: one per decoder, each yields float32 blocks [frames, channels] of exactly the frames decoded.
# ------------------------------------------------------------------------------------------------------------
def _check_path(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "no such file")
    if p.is_dir():
        raise AudioError(p, "it is a directory, not an audio file")
    if not p.is_file():
        raise AudioError(p, "it is not a regular file (a pipe, socket or device?)")
    if p.stat().st_size == 0:
        raise AudioError(p, "the file is empty (0 bytes)")
    return p


def _riff_declared_frames(p: Path) -> int | None:
    """Frames a RIFF/WAVE ``data`` chunk declares (libsndfile clips it to the file, hiding a cut WAV)."""
    try:
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            for _ in range(64):  # a few chunks precede "data" (fmt, LIST, fact, ...)
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(size + (size & 1))
                    if len(fmt) >= 14:
                        block_align = struct.unpack("<H", fmt[12:14])[0]
                    continue
                if cid == b"data":
                    if not block_align or size in (0xFFFFFFFF, 0):  # streaming placeholder / RF64
                        return None
                    return size // block_align
                f.seek(size + (size & 1), os.SEEK_CUR)
    except (OSError, struct.error):
        return None
    return None


class _SndfileSource:
    decoder = "libsndfile"

    def __init__(self, p: Path):
        import soundfile as sf

        self.f = sf.SoundFile(str(p))
        self.native_sr = int(self.f.samplerate)
        self.channels = int(self.f.channels)
        frames = int(self.f.frames)
        self.declared_frames = frames if 0 <= frames < 2**62 else None
        if self.f.format in ("WAV", "WAVEX"):
            riff = _riff_declared_frames(p)
            if riff is not None and self.declared_frames is not None and riff > self.declared_frames:
                self.declared_frames = riff

    def blocks(self, blocksize: int):
        # buffer_read_into returns the frames really decoded (SoundFile.read(n) would stop at the header's
        # frame count; sf.blocks hands back the whole preallocated block on a short read). The decoder is always
        # asked for _READ_FRAMES at a time, whatever the block size: libmpg123's concealment of a damaged frame
        # depends on the read pattern, and the same file must give the same samples for every caller.
        reads = max(1, -(-blocksize // _READ_FRAMES))
        buf = np.empty((reads * _READ_FRAMES, self.channels), dtype=np.float32)
        while True:
            n = 0
            while n < len(buf):
                got = self.f.buffer_read_into(buf[n : n + _READ_FRAMES], dtype="float32")
                n += got
                if got < _READ_FRAMES:
                    break
            if n <= 0:
                return
            yield buf[:n]
            if n < len(buf):
                return

    def close(self):
        self.f.close()


class _AudioreadSource:
    decoder = "audioread"

    def __init__(self, p: Path):
        import audioread

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.f = audioread.audio_open(str(p))
        self.native_sr = int(self.f.samplerate)
        self.channels = int(self.f.channels)
        duration = getattr(self.f, "duration", 0) or 0
        self.declared_frames = int(round(duration * self.native_sr)) if duration > 0 and self.native_sr > 0 else None

    def blocks(self, blocksize: int):
        ch = max(1, self.channels)
        pending, n_pending, rest = [], 0, b""
        for raw in self.f:
            raw = rest + bytes(raw)
            usable = len(raw) - len(raw) % (2 * ch)
            rest = raw[usable:]
            if not usable:
                continue
            pending.append(np.frombuffer(raw[:usable], dtype="<i2").reshape(-1, ch))
            n_pending += pending[-1].shape[0]
            if n_pending >= blocksize:
                yield np.concatenate(pending).astype(np.float32) * np.float32(1 / 32768)
                pending, n_pending = [], 0
        if pending:
            yield np.concatenate(pending).astype(np.float32) * np.float32(1 / 32768)

    def close(self):
        self.f.close()


def _clean_sndfile_message(err: Exception) -> str:
    """libsndfile's reason, without its misleading 'File does not exist' for content it does not recognise."""
    text = getattr(err, "error_string", None) or str(err)
    text = str(text).strip().rstrip(".")
    if text.lower().startswith("error :"):
        text = text[len("error :"):].strip()
    if "does not exist" in text or text in ("System error", "Unspecified internal error") or not text:
        return "it does not recognise the content"
    if "Format not recognised" in text:
        return "format not recognised"
    return text[0].lower() + text[1:]


def _open(p: Path):
    """Open ``p`` with libsndfile, else audioread; an :class:`AudioError` that says why neither could."""
    try:
        return _SndfileSource(p)
    except Exception as sf_error:  # noqa: BLE001 - reported below with the fallback's reason
        first = _clean_sndfile_message(sf_error)
    try:
        return _AudioreadSource(p)
    except Exception as ar_error:  # noqa: BLE001
        name = type(ar_error).__name__
        if name == "NoBackendError":
            second = "no installed backend (ffmpeg, GStreamer, Core Audio) can decode it"
        elif isinstance(ar_error, FileNotFoundError):
            second = "no such file"
        else:
            second = str(ar_error) or name
    ext = p.suffix.lower()
    if ext in _NEEDS_FFMPEG:
        raise AudioError(p, f"not a readable audio file here: libsndfile cannot decode {ext} files and audioread "
                            f"{second.replace('no installed', 'has no installed')}; install ffmpeg, or convert "
                            "it to FLAC/WAV/MP3") from None
    raise AudioError(p, f"not a readable audio file (libsndfile: {first}; audioread: {second}); it is damaged, "
                        f"truncated or not audio{' despite its ' + ext + ' name' if ext else ''} — replace or "
                        "re-encode it") from None


def _check_rate(p: Path, native_sr: int) -> None:
    if not MIN_SAMPLE_RATE <= native_sr <= MAX_SAMPLE_RATE:
        raise AudioError(p, f"its header declares a sample rate of {native_sr} Hz, outside the "
                            f"{MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz of real audio (a damaged or mislabelled "
                            "header); re-encode it")


def _mix(block: np.ndarray) -> np.ndarray:
    """Average the channels of ``block`` [frames, channels] → [frames, 1] float32 (a copy).

    A loop over the channels, not ``block.mean(axis=1)``: numpy's reduction over a short, strided axis is
    tens of times slower (as long as decoding the MP3 itself).
    """
    out = np.array(block[:, 0], dtype=np.float32, copy=True)
    with np.errstate(over="ignore"):  # an overflow gives inf, which the caller reports
        for c in range(1, block.shape[1]):
            out += block[:, c]
    if block.shape[1] > 1:
        out *= np.float32(1.0 / block.shape[1])
    return out[:, None]


class _Output:
    """The output signal written block by block into one array (1-D for one channel, else [channels, n])."""

    def __init__(self, channels: int, capacity: int):
        shape = (max(16, capacity),) if channels == 1 else (channels, max(16, capacity))
        self.y = np.empty(shape, dtype=np.float32)
        self.n = 0

    def put(self, part: np.ndarray) -> None:  # part [m, channels]
        m = part.shape[0]
        if m == 0:
            return
        cap = self.y.shape[-1]
        if self.n + m > cap:  # the header undercounts: grow by half
            grown = np.empty(self.y.shape[:-1] + (max(self.n + m, cap * 3 // 2),), dtype=np.float32)
            grown[..., : self.n] = self.y[..., : self.n]
            self.y = grown
        if self.y.ndim == 1:
            self.y[self.n : self.n + m] = part[:, 0]
        else:
            self.y[:, self.n : self.n + m] = part.T
        self.n += m

    def result(self) -> np.ndarray:
        """The samples: 1-D for one channel (a view of the buffer, no second copy), else [channels, n]."""
        y, self.y = self.y, None
        if y.ndim == 1:
            # a view, not ndarray.resize (numpy 2.5 shrinks by copying: twice the peak memory); a copy only
            # where the buffer grew far past the samples, so a view would hold much unused memory
            if self.n == len(y):
                return y
            return y[: self.n] if len(y) - self.n <= len(y) // 8 else y[: self.n].copy()
        return y if self.n == y.shape[1] else np.ascontiguousarray(y[:, : self.n])


# ------------------------------------------------------------------------------------------------------------
# The decoder
# ------------------------------------------------------------------------------------------------------------
def _overflow(p: Path, part) -> AudioError:
    peak = "" if part is None else f" (peak {float(np.max(np.abs(part))):.3g})"
    return AudioError(p, f"its samples overflow when mixed or resampled{peak}; the file is damaged — replace or "
                         "re-export it")


def decode_audio(path, sr: int | None = 22050, *, mono: bool = True, block_seconds: float = 10.0,
                 offset: float = 0.0, duration: float | None = None) -> DecodedAudio:
    """Decode any audio file to float32 at a fixed rate, block by block, and say what was decoded.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, OGG/Vorbis, MP3, AIFF or AU (any sample rate and channel count); AAC/M4A with ffmpeg.
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's own rate.
    mono : bool
        Average the channels to one (block by block, so the full multichannel signal is never held).
    block_seconds : float
        Length of the decoded blocks in seconds of the native rate (memory: one block of the native signal
        plus the output).
    offset, duration : float
        Optional excerpt in seconds (cut at the native rate before resampling).

    Returns
    -------
    DecodedAudio
        ``samples`` [shape=(n,) if mono else (channels, n)] float32, ``sr``, ``native_sr``, ``channels``,
        ``seconds`` (decoded), ``declared_seconds`` (header), ``truncated``.

    Raises
    ------
    AudioError
        The file is missing, empty, a directory, not audio, fails to decode part-way, decodes to zero samples,
        holds NaN/inf samples or declares an absurd sample rate; the message names the file and the reason.

    Examples
    --------
    >>> a = decode_audio("song.mp3", sr=22050)                      # doctest: +SKIP
    >>> a.samples.shape, a.seconds, a.truncated                      # doctest: +SKIP
    ((661500,), 30.0, False)

    Notebook: 02_spectrograms_and_features.ipynb
    """
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating))
                           or sr <= 0 or int(sr) != sr):
        raise ParameterError(f"sr must be a positive whole number of Hz or None, got {sr!r}")
    if not block_seconds > 0:
        raise ParameterError(f"block_seconds must be positive, got {block_seconds!r}")
    if offset < 0 or (duration is not None and duration < 0):
        raise ParameterError(f"offset and duration must be non-negative, got offset={offset!r}, duration={duration!r}")
    p = _check_path(path)
    source = _open(p)
    try:
        return _decode_source(p, source, sr, mono, block_seconds, offset, duration)
    finally:
        source.close()


def _decode_source(p, source, sr, mono, block_seconds, offset, duration) -> DecodedAudio:
    native = source.native_sr
    _check_rate(p, native)
    if source.channels < 1:
        raise AudioError(p, f"its header declares {source.channels} channels")
    out_sr = native if sr is None else int(sr)
    start = int(round(offset * native))
    stop = None if duration is None else start + int(round(duration * native))
    out_ch = 1 if mono else source.channels
    stream = None
    if out_sr != native:
        import soxr

        stream = soxr.ResampleStream(native, out_sr, out_ch, dtype="float32", quality="HQ")
    declared = source.declared_frames
    # room for the output the header announces (capped: a damaged header cannot make us allocate gigabytes;
    # the array grows if the header undercounts)
    expect = declared if declared is not None else native * 60
    expect = max(0, (expect if stop is None else min(expect, stop)) - start)
    capacity = int(math.ceil(min(expect, native * 1800) * out_sr / native)) + 64
    out = _Output(out_ch, capacity)
    pos = 0  # native frames decoded so far
    reached_end = True
    blocksize = max(1, int(block_seconds * native))
    blocks = source.blocks(blocksize)
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            break
        except Exception as err:  # noqa: BLE001 - a decoder error part-way through: say where
            raise AudioError(p, f"decoding failed between {pos / native:.2f} s and "
                                f"{min(pos + blocksize, declared or pos + blocksize) / native:.2f} s"
                                + (f" of the {declared / native:.2f} s its header declares" if declared else "")
                                + f" ({_clean_sndfile_message(err)}): the file is damaged or truncated; "
                                  "replace it") from None
        n = block.shape[0]
        lo = min(max(start - pos, 0), n)
        hi = n if stop is None else min(n, max(stop - pos, 0))
        pos += n
        if hi > lo:
            part = block[lo:hi]
            if not np.isfinite(part).all():
                bad = int(np.argmax(~np.isfinite(part).all(axis=1)))
                raise AudioError(p, f"it contains NaN or infinite samples (first at "
                                    f"{(pos - n + lo + bad) / native:.2f} s); the file is damaged — replace or "
                                    "re-export it")
            mixed = _mix(part) if mono and part.shape[1] > 1 else part
            result = mixed if stream is None else stream.resample_chunk(mixed, last=False)
            if not np.isfinite(result).all():
                raise _overflow(p, part)
            out.put(result)
        if stop is not None and pos >= stop:
            reached_end = False  # the excerpt is complete: the rest of the file is not decoded
            break
    if stream is not None:
        tail = stream.resample_chunk(np.zeros((0, out_ch), dtype=np.float32), last=True)
        if not np.isfinite(tail).all():
            raise _overflow(p, None)
        out.put(tail)
    used = max(0, (pos if stop is None else min(pos, stop)) - start)
    if used == 0 or out.n == 0:
        if pos == 0:
            what = ("its header declares no samples (a header-only or empty audio stream)" if declared == 0 else
                    "it decodes to zero samples (an empty or truncated audio stream)")
        else:
            what = (f"the excerpt (offset {offset:g} s) starts after the end of the audio "
                    f"({pos / native:.2f} s)")
        raise AudioError(p, what)
    samples = out.result()
    if not mono and samples.ndim == 1:
        samples = samples[None, :]  # [channels, n] whatever the channel count
    truncated = False
    if reached_end and declared is not None and declared > pos:
        missing = (declared - pos) / native
        truncated = missing > _TRUNCATION_SECONDS and missing > _TRUNCATION_FRACTION * declared / native
    return DecodedAudio(samples=samples, sr=out_sr, native_sr=native,
                        channels=source.channels, seconds=used / native,
                        declared_seconds=None if declared is None else declared / native, truncated=truncated,
                        path=str(p), decoder=source.decoder)


def load_audio(path, sr: int | None = 22050, mono: bool = True, *, offset: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Load any audio file as float32 samples at a fixed rate: ``decode_audio(...).samples``.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, OGG/Vorbis, MP3, AIFF or AU file (any sample rate, any channel count).
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's own rate.
    mono : bool
        Average the channels to one.
    offset, duration : float
        Optional excerpt, in seconds.

    Returns
    -------
    y : np.ndarray [shape=(n_samples,) if mono else (n_channels, n_samples)], float32
        Samples in [-1, 1] (not renormalised). A truncated file gives what it holds; use
        :func:`decode_audio` to learn that it is truncated.

    Raises
    ------
    AudioError
        The file is missing, empty, a directory, damaged or not audio; the message names the file and the reason.

    Notebook: 02_spectrograms_and_features.ipynb
    """
    return decode_audio(path, sr, mono=mono, offset=offset, duration=duration).samples


def _decode(p: Path) -> tuple[np.ndarray, int]:
    """The whole file at its native rate and channel count: ``([channels, samples] float32, native_sr)``."""
    a = decode_audio(p, None, mono=False)
    return a.samples, a.native_sr


def audio_duration(path) -> float:
    """Duration of an audio file in seconds, read from its header when possible (no full decode).

    Raises
    ------
    AudioError
        The file cannot be opened, or declares an absurd sample rate.
    """
    p = _check_path(path)
    source = _open(p)
    try:
        _check_rate(p, source.native_sr)
        if source.declared_frames is not None:
            return source.declared_frames / source.native_sr
    finally:
        source.close()
    return decode_audio(p, None).seconds


def chunk_audio(y: np.ndarray, sr: int, chunk_seconds: float = 5.0, hop_seconds: float | None = None, *,
                pad_short: bool = True) -> np.ndarray:
    """Cut a mono signal into fixed-length, possibly overlapping chunks.

    Chunks start at ``0, hop, 2·hop, …`` and a trailing remainder shorter than one chunk is dropped. A signal
    shorter than one chunk gives one zero-padded chunk when ``pad_short`` (use :func:`n_chunks` to know whether
    that happened).

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal.
    sr : int
        Its sample rate in Hz.
    chunk_seconds : float
        Chunk length in seconds (5 s in the seed system).
    hop_seconds : float or None
        Distance between chunk starts; ``None`` means ``chunk_seconds`` (no overlap).
    pad_short : bool
        Zero-pad a too-short signal to one chunk instead of returning zero chunks.

    Returns
    -------
    chunks : np.ndarray [shape=(n_chunks, chunk_samples)], same dtype as ``y``
        ``chunk_samples = round(chunk_seconds * sr)``.

    Notebook: 02_spectrograms_and_features.ipynb
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"chunk_audio expects a mono 1-D signal, got shape {y.shape}; use load_audio(mono=True)")
    size, hop = chunk_geometry(sr, chunk_seconds, hop_seconds)
    if len(y) < size:
        if not pad_short:
            return np.zeros((0, size), dtype=y.dtype)
        return np.pad(y, (0, size - len(y)))[None, :]
    n = 1 + (len(y) - size) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(size)[None, :]
    return y[idx]


def chunk_geometry(sr: int, chunk_seconds: float, hop_seconds: float | None = None) -> tuple[int, int]:
    """Chunk length and hop in samples for a rate; validates the arguments."""
    if chunk_seconds <= 0:
        raise ParameterError(f"chunk_seconds must be positive, got {chunk_seconds}")
    hop_seconds = chunk_seconds if hop_seconds is None else hop_seconds
    if hop_seconds <= 0:
        raise ParameterError(f"hop_seconds must be positive, got {hop_seconds}")
    return int(round(chunk_seconds * sr)), int(round(hop_seconds * sr))


def n_chunks(n_samples: int, sr: int, chunk_seconds: float = 5.0, hop_seconds: float | None = None) -> int:
    """Number of chunks :func:`chunk_audio` returns for a signal of ``n_samples`` (0 when it is too short)."""
    size, hop = chunk_geometry(sr, chunk_seconds, hop_seconds)
    return 0 if n_samples < size else 1 + (n_samples - size) // hop


def _is_audio_file(path: os.PathLike | str) -> bool:
    return str(path).lower().endswith(AUDIO_EXTENSIONS)
