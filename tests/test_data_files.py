"""Users' data files, fuzzed (Hypothesis): each reader returns the examples or raises one
ConfigError naming the file and line, never a decoder's or parser's traceback."""

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smat.data.imdb import read_imdb
from smat.data.mlqe import read_mlqe, read_word_tags
from smat.errors import ConfigError

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
LABEL = st.one_of(st.sampled_from(["0", "1", "pos", "neg", " Pos ", "2", "", "-1", "x"]), TEXT)


def _csv(rows, header=("text", "label")) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _reads_or_one_line(read, path):
    """The reader's result, or None after checking its error is one ConfigError line that
    names the file."""
    try:
        return read(str(path))
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and str(path) in message, message
        return None


def _corrupt(data: bytes, how: str, where: int) -> bytes:
    where = min(where, len(data))
    if how == "latin1":  # one byte that is not UTF-8
        return data[:where] + b"\xe9" + data[where:]
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "truncate":
        return data[:where]
    if how == "nul":
        return data[:where] + b"\x00" + data[where:]
    return data


@given(
    rows=st.lists(st.tuples(TEXT, LABEL), max_size=8),
    header=st.sampled_from([("text", "label"), ("text",), ("label", "text", "text"), ("a", "b")]),
    how=st.sampled_from(["none", "latin1", "bom", "truncate", "nul"]),
    where=st.integers(0, 400),
)
def test_a_csv_of_reviews_reads_or_fails_in_one_line(tmp_path_factory, rows, header, how, where):
    path = tmp_path_factory.mktemp("csv") / "reviews.csv"
    path.write_bytes(_corrupt(_csv(rows, header).encode(), how, where))
    got = _reads_or_one_line(read_imdb, path)
    if got is not None:
        texts, labels, classes = got
        assert len(texts) == len(labels) and classes == 2 and set(labels) <= {0, 1}


@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_random_bytes_never_crash_the_table_readers(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("bytes") / f"reviews{suffix}"
    path.write_bytes(data)
    _reads_or_one_line(read_imdb, path)


@given(lines=st.lists(st.one_of(TEXT, st.dictionaries(TEXT, TEXT, max_size=3)), max_size=6))
def test_jsonl_lines_read_or_fail_in_one_line(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("jsonl") / "reviews.jsonl"
    path.write_text(
        "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines), encoding="utf-8"
    )
    _reads_or_one_line(read_imdb, path)


@given(
    rows=st.lists(st.tuples(TEXT, TEXT, st.one_of(TEXT, st.floats())), max_size=6),
    how=st.sampled_from(["none", "latin1", "bom", "truncate"]),
    where=st.integers(0, 300),
)
def test_a_quality_estimation_tsv_reads_or_fails_in_one_line(tmp_path_factory, rows, how, where):
    path = tmp_path_factory.mktemp("tsv") / "qe.tsv"
    lines = ["original\ttranslation\tz_mean"] + ["\t".join(map(str, r)) for r in rows]
    path.write_bytes(_corrupt("\n".join(lines).encode(), how, where))
    got = _reads_or_one_line(read_mlqe, path)
    if got is not None:
        assert np.all(np.isfinite(got[2]))


def test_the_holes_a_hand_made_list_missed(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\nun film très bon,pos\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.csv:2: not UTF-8 .* re-save the file as UTF-8"):
        read_imdb(str(latin))
    bom = tmp_path / "bom.csv"  # Excel's UTF-8: the header's first name keeps no BOM
    bom.write_bytes("\ufefftext,label\ngood,pos\n".encode())
    assert read_imdb(str(bom))[0] == ["good"]
    empty = tmp_path / "empty_text.csv"
    empty.write_text("text,label\ngood,pos\n ,neg\n")
    with pytest.raises(ConfigError, match=r"empty_text.csv:3: empty or missing 'text'"):
        read_imdb(str(empty))
    folder = tmp_path / "aclImdb" / "train" / "pos"
    folder.mkdir(parents=True)
    (folder / "0_9.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ConfigError, match=r"0_9.txt:1: not UTF-8"):
        read_imdb(str(tmp_path / "aclImdb"))
    tags = tmp_path / "words"
    tags.mkdir()
    (tags / "a.src").write_text("a b\n")
    (tags / "a.mt").write_bytes(b"x \xff\n")
    (tags / "a.tags").write_text("OK OK OK OK OK\n")
    with pytest.raises(ConfigError, match=r"a.mt:1: not UTF-8"):
        read_word_tags(str(tags))
