"""Explanations for practitioners: attribution objects, words from each tokenizer family's
offsets, target classes, signed scores, integrated-gradients baselines, pages in a browser."""

import html.parser
import io
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tokenizers
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import decoders, normalizers, pre_tokenizers, processors, trainers

from smat import config as config_lib
from smat import models
from smat.attribution import Attribution, Attributions, write_page
from smat.data import words as words_lib
from smat.data.tokenization import load_tokenizer
from smat.errors import ConfigError
from smat.trained_explainer import TrainedExplainer

TEXT = "Unbelievably gripping films, don't miss them!"
CORPUS = [
    "the film was good and the plot was fine",
    "a boring movie with a dull story",
    "great acting , lovely music and a warm ending",
    "i would not watch it again , it is bad",
] * 20
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MAX_LENGTH = 64


def _byte_level_bpe(path: str) -> str:
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    # RoBERTa's template; offsets not trimmed, so a piece's span holds the space before it.
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=False
    )
    tok.save(path)
    return path


def _sentencepiece_unigram(path: str) -> str:
    tok = tokenizers.Tokenizer(tokenizers.models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(
        CORPUS,
        trainers.UnigramTrainer(vocab_size=120, special_tokens=SPECIALS, unk_token="<unk>"),
    )
    s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B </s>", special_tokens=[("<s>", s), ("</s>", e)]
    )
    tok.save(path)
    return path


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory, minilm_folder):
    """One tokenizer of each family, built offline: WordPiece (MiniLM's, shipped by a pip
    package), byte-level BPE (RoBERTa-style) and SentencePiece unigram (XLM-R-style)."""
    d = tmp_path_factory.mktemp("tokenizers")
    return {
        "wordpiece": os.path.join(minilm_folder, "tokenizer.json"),
        "bpe": _byte_level_bpe(str(d / "bpe.json")),
        "sentencepiece": _sentencepiece_unigram(str(d / "sp.json")),
    }


def _model(vocab: int, num_classes: int = 2):
    c = config_lib.base()
    c.model.checkpoint = ""
    c.model.num_layers, c.model.hidden_size, c.model.num_heads = 2, 16, 2
    c.model.intermediate_size, c.model.max_position_embeddings = 32, MAX_LENGTH
    built = models.build_model(c.model, num_classes=num_classes, vocab_size=vocab)
    ids = np.ones((1, MAX_LENGTH), np.int32)
    params = built.module.init(jax.random.key(3), ids, ids)["params"]
    return built, params


def _explainer(tokenizer_file: str, name: str = "attention", num_classes: int = 2, **section):
    vocab = load_tokenizer(tokenizer_file, MAX_LENGTH).get_vocab_size(with_added_tokens=True)
    built, params = _model(vocab, num_classes)
    section = config_lib.explainer_section(name, **section).to_dict()
    return TrainedExplainer(
        built, params, section, False, None, tokenizer_file=tokenizer_file, max_length=MAX_LENGTH
    )


@pytest.mark.parametrize("family", ["wordpiece", "bpe", "sentencepiece"])
def test_words_come_from_each_tokenizer_familys_offsets(tokenizer_files, family):
    tok = load_tokenizer(tokenizer_files[family], MAX_LENGTH)
    encoding = tok.encode(TEXT)
    ids, words, shown = words_lib.token_words(encoding, (TEXT,))
    assert words == TEXT.split()
    real = [i for i, m in enumerate(encoding.attention_mask) if m]
    # Every word's pieces, shown as the text's own characters, spell the word exactly; the
    # special tokens (and only they) belong to no word.
    for w, word in enumerate(words):
        assert "".join(shown[i] for i in real if ids[i] == w) == word, (family, shown)
    specials = [i for i in real if encoding.special_tokens_mask[i]]
    assert [i for i in real if ids[i] is None] == specials and len(specials) == 2
    assert len([i for i in real if ids[i] is not None]) > len(words)  # sub-words were grouped


def test_words_of_a_sentence_pair_and_a_truncated_text(tokenizer_files):
    tok = load_tokenizer(tokenizer_files["wordpiece"], 8)
    encoding = tok.encode("a very long text that will be cut off here")
    _, words, _ = words_lib.token_words(encoding, ("a very long text that will be cut off here",))
    assert words == ["a", "very", "long", "text", "that", "will"]  # [CLS] + 6 + [SEP]
    pair = load_tokenizer(tokenizer_files["wordpiece"], MAX_LENGTH).encode("Das Haus", "the house")
    ids, words, _ = words_lib.token_words(pair, ("Das Haus", "the house"))
    assert words == ["Das", "Haus", "the", "house"]
    assert sorted({i for i in ids if i is not None}) == [0, 1, 2, 3]


def test_word_reductions():
    scores, seen = words_lib.word_scores(np.array([0.1, 0.2, 0.3, 0.4]), [None, 0, 0, 1], 3, "sum")
    np.testing.assert_allclose(scores, [0.5, 0.4, 0.0])
    assert seen.tolist() == [True, True, False]
    mean, _ = words_lib.word_scores(np.array([0.1, 0.2, 0.3, 0.4]), [None, 0, 0, 1], 2, "mean")
    top, _ = words_lib.word_scores(np.array([0.1, -0.2, 0.3, 0.4]), [None, 0, 0, 1], 2, "max")
    np.testing.assert_allclose(mean, [0.25, 0.4])
    np.testing.assert_allclose(top, [0.3, 0.4])
    with pytest.raises(ValueError, match="reduce='median'"):
        words_lib.word_scores(np.zeros(2), [0, 0], 1, "median")


@given(
    st.lists(
        st.tuples(st.floats(-10, 10), st.one_of(st.none(), st.integers(0, 5))),
        min_size=1,
        max_size=30,
    )
)
def test_summing_into_words_keeps_the_mass_of_the_words_tokens(pairs):
    scores = np.array([s for s, _ in pairs])
    ids = [w for _, w in pairs]
    totals, _ = words_lib.word_scores(scores, ids, 6)
    expected = sum(s for s, w in pairs if w is not None)
    assert totals.sum() == pytest.approx(expected, abs=1e-9)


def test_an_attribution_holds_tokens_words_prediction_and_shows_saves_loads(
    tokenizer_files, tmp_path
):
    ex = _explainer(tokenizer_files["bpe"])
    a = ex.explain(TEXT, aggregate="word")
    assert isinstance(a, Attribution)
    assert a.words == TEXT.split() and a.units == a.words
    assert a.tokens[0] == "<s>" and a.tokens[-1] == "</s>"
    assert a.token_scores.sum() == pytest.approx(1.0, abs=1e-5)  # a distribution over tokens
    specials = a.token_scores[[0, -1]].sum()
    assert a.word_scores.sum() == pytest.approx(1.0 - specials, abs=1e-5)
    logits = ex.predict(ex._encode(TEXT)[1])[0]
    assert a.prediction == int(np.argmax(logits))
    np.testing.assert_allclose(a.probabilities, jax.nn.softmax(logits), rtol=1e-5)
    assert a.target is None  # attention explains no class
    assert a.top(1)[0][1] == pytest.approx(a.word_scores.max())

    out = io.StringIO()
    a.show(out)
    assert "\x1b[48;2;255;" in out.getvalue() and "Unbelievably" in out.getvalue()
    again = Attribution.load(a.save(str(tmp_path / "a.json")))
    np.testing.assert_array_equal(again.token_scores, a.token_scores)
    assert again.to_dict() == a.to_dict()
    both = ex.explain([TEXT, "a boring movie"])
    assert isinstance(both, Attributions) and len(both) == 2
    assert [b.text for b in Attributions.load(both.save(str(tmp_path / "b.json")))] == [
        TEXT,
        "a boring movie",
    ]
    np.testing.assert_allclose(both[0].token_scores, a.token_scores, rtol=1e-6)


class _Fragment(html.parser.HTMLParser):
    """Collects the text and tags of an HTML fragment, as a notebook's renderer parses it."""

    def __init__(self):
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_notebook_html_escapes_the_text(tokenizer_files):
    ex = _explainer(tokenizer_files["wordpiece"])
    a = ex.explain("<script>alert(1)</script> & a film", aggregate="word")
    fragment = a._repr_html_()
    parser = _Fragment()
    parser.feed(fragment)
    assert "script" not in parser.tags and "<script>alert(1)</script>" in "".join(parser.text)
    assert "&lt;script&gt;" in fragment
    assert set(parser.tags) <= {"div", "p", "b", "span"}


def _logit_gradient(ex, batch, weights):
    """Per token Σ_dim embeds · ∂(weights · logits)/∂embeds, computed here independently."""
    apply, params = ex.model.apply, ex.params
    ids, mask = jnp.asarray(batch["input_ids"]), jnp.asarray(batch["attention_mask"])
    embeds = apply({"params": params}, ids, mask).input_embeds

    def f(e):
        return jnp.sum(apply({"params": params}, ids, mask, inputs_embeds=e).logits * weights)

    return np.asarray(jnp.sum(jax.grad(f)(embeds) * embeds, -1))


def test_gradient_explainers_explain_any_class_with_signed_raw_scores(tokenizer_files):
    ex = _explainer(tokenizer_files["wordpiece"], "gradient_x_input", num_classes=3)
    batch = ex._encode(TEXT)[1]
    n = int(batch["attention_mask"].sum())
    for target in range(3):
        a = ex.explain(TEXT, target=target, normalize=False)
        assert a.target == target and not a.normalized
        expected = _logit_gradient(ex, batch, jax.nn.one_hot(target, 3))[0, :n]
        np.testing.assert_allclose(a.token_scores, expected, rtol=1e-4, atol=1e-6)
    assert (a.token_scores < 0).any() and (a.token_scores > 0).any()  # the sign is kept
    default = ex.explain(TEXT)
    assert default.target == default.prediction  # the predicted class by default
    per_text = ex.explain([TEXT, TEXT], target=[0, 2])
    assert [p.target for p in per_text] == [0, 2]
    with pytest.raises(ConfigError, match="the model has 3 classes"):
        ex.explain(TEXT, target=3)
    with pytest.raises(ConfigError, match="explains no particular class"):
        _explainer(tokenizer_files["wordpiece"]).explain(TEXT, target=0)


@pytest.mark.parametrize("baseline", ["zero", "pad", "mask"])
def test_integrated_gradients_baselines_report_their_completeness_gap(tokenizer_files, baseline):
    ex = _explainer(tokenizer_files["wordpiece"], "integrated_gradients", ig_steps=64)
    batch = ex._encode(TEXT)[1]
    a = ex.explain(TEXT, target=1, normalize=False, baseline=baseline)
    # f(input) - f(baseline), computed here: the baseline token at every non-special position.
    apply, params = ex.model.apply, ex.params
    ids, mask = batch["input_ids"], batch["attention_mask"]
    embeds = apply({"params": params}, ids, mask).input_embeds
    if baseline == "zero":
        base = jnp.zeros_like(embeds)
    else:
        token = {"pad": "[PAD]", "mask": "[MASK]"}[baseline]
        keep = batch["special_tokens_mask"].astype(bool)
        base_ids = np.where(keep, ids, ex.tokenizer.token_to_id(token))
        base = apply({"params": params}, base_ids, mask).input_embeds

    def f(e):
        return float(apply({"params": params}, ids, mask, inputs_embeds=e).logits[0, 1])

    difference = f(embeds) - f(base)
    assert a.token_scores.sum() == pytest.approx(difference, rel=2e-2, abs=1e-3)
    assert a.completeness_gap == pytest.approx(difference - a.token_scores.sum(), abs=1e-4)
    assert abs(a.completeness_gap) < 0.05 * max(abs(difference), 1e-3)
    if baseline != "zero":
        zero = ex.explain(TEXT, target=1, normalize=False)
        assert not np.allclose(zero.token_scores, a.token_scores)
    with pytest.raises(ConfigError, match="integrated_gradients only"):
        _explainer(tokenizer_files["wordpiece"], "gradient_x_input").explain(TEXT, baseline="pad")


def test_a_page_of_texts_renders_in_headless_chromium(tokenizer_files, tmp_path):
    texts = ["<b>not bold</b> & a gripping film", "A dull plot, don't bother."]
    learned = _explainer(tokenizer_files["wordpiece"])
    gxi = learned.with_explainer(config_lib.explainer_section("gradient_x_input").to_dict())
    page = write_page(
        str(tmp_path / "page.html"),
        {
            "attention": learned.explain(texts, aggregate="word"),
            "gradient × input": gxi.explain(texts, aggregate="word", normalize=False),
        },
    )
    source = open(page).read()
    assert "&lt;b&gt;not bold&lt;/b&gt;" in source and "<b>not bold</b>" not in source
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no chromium (Debian: apt-get install chromium) to render the page")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1000, "height": 700})
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"file://{page}")
        body = tab.inner_text("body")
        shot = str(tmp_path / "page.png")
        tab.screenshot(path=shot)
        spans = tab.locator("span.t").count()
        browser.close()
    assert errors == []
    assert "<b>not bold</b>" in body and "gradient × input" in body  # shown as text
    assert spans == 2 * sum(len(t.split()) for t in texts)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.std() > 0.05
    assert (pixels[..., 2] > pixels[..., 0] + 0.2).mean() > 0.0005  # negative scores in blue
    assert (pixels[..., 0] > pixels[..., 1] + 0.2).mean() > 0.0005  # positive ones in red
