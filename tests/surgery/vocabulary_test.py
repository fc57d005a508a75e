"""trim_vocabulary: a smaller tokenizer and token embedding, the same answers on kept text."""

import keras
import numpy as np
import pytest

from keras_compress.evaluation import evaluate
from keras_compress.export import ExportConfig, Parity, to_tflite
from keras_compress.surgery.vocabulary import _rows, kept_token_ids, trim_vocabulary

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["book", "a", "demo", "bye", "see", "you", "later", "hello", "there", "##s", "x",
         "##y", "##z", "y", "z", "zoo", "weather", "today", "w", "##e", "##a", "##t", "##h",
         "##r"]
TRAIN = ["book a demo", "books", "bye see you later", "hello there"]


def classifier(family="Bert", vocabulary=SPECIAL + WORDS, seed=0):
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = getattr(keras_hub.models, f"{family}Tokenizer")(vocabulary=vocabulary,
                                                                lowercase=True)
    backbone = getattr(keras_hub.models, f"{family}Backbone")(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=16)
    preprocessor = getattr(keras_hub.models, f"{family}TextClassifierPreprocessor")(
        tokenizer, sequence_length=16)
    return getattr(keras_hub.models, f"{family}TextClassifier")(backbone, 3,
                                                                preprocessor=preprocessor)


@pytest.mark.parametrize("family", ["Bert", "DistilBert"])
def test_kept_texts_get_the_same_answers_from_a_smaller_model(family):
    model = classifier(family)
    before = [w.numpy().copy() for w in model.weights]
    small = trim_vocabulary(model, TRAIN, keep_characters=False)
    assert [w.numpy() for w in model.weights][0].shape == before[0].shape  # model untouched
    vocabulary = small.preprocessor.tokenizer.get_vocabulary()
    assert vocabulary == SPECIAL + ["book", "a", "demo", "bye", "see", "you", "later", "hello",
                                    "there", "##s"]
    assert small.backbone.token_embedding.embeddings.shape == (len(vocabulary), 8)
    assert small.count_params() < model.count_params()
    np.testing.assert_allclose(small.predict(TRAIN, verbose=0), model.predict(TRAIN, verbose=0),
                               atol=1e-5)


def test_unseen_words_are_spelt_in_kept_characters_or_become_unk():
    model = classifier()
    tokenizer = model.preprocessor.tokenizer
    with_chars = trim_vocabulary(model, TRAIN).preprocessor.tokenizer
    without = trim_vocabulary(model, TRAIN, keep_characters=False).preprocessor.tokenizer

    def pieces(tok, text):
        return [tok.get_vocabulary()[i] for i in np.asarray(tok(text))]

    assert pieces(tokenizer, "weather") == ["weather"]
    assert pieces(with_chars, "weather") == ["w", "##e", "##a", "##t", "##h", "##e", "##r"]
    assert pieces(without, "weather") == ["[UNK]"]
    assert pieces(with_chars, "zoo") == ["[UNK]"]  # no "##o" to spell it with
    assert pieces(with_chars, "xyz") == pieces(tokenizer, "xyz") == ["x", "##y", "##z"]


def test_the_trimmed_model_saves_loads_trains_and_exports(tmp_path):
    model = classifier()
    small = trim_vocabulary(model, TRAIN)
    path = tmp_path / "small.keras"
    small.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(TRAIN, verbose=0), small.predict(TRAIN, verbose=0),
                               atol=1e-6)
    loaded.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loaded.fit(TRAIN, np.array([0, 0, 1, 2]), epochs=1, verbose=0)
    report = to_tflite(small, tmp_path / "small.tflite", ExportConfig(sequence_lengths=(8, 16)),
                       parity=Parity(data=TRAIN), verbose=False)
    assert report.parity["label_agreement"] == 1.0


def test_kept_ids_hold_the_special_tokens_and_characters():
    tokenizer = classifier().preprocessor.tokenizer
    vocabulary = tokenizer.get_vocabulary()
    kept = [vocabulary[i] for i in kept_token_ids(tokenizer, ["hello"])]
    assert kept == SPECIAL + ["a", "hello", "##s", "x", "##y", "##z", "y", "z", "w", "##e", "##a",
                              "##t", "##h", "##r"]


def test_bad_input_is_named_and_nothing_is_changed():
    import keras_hub

    from keras_compress.layers import MaskedDense
    from keras_compress.surgery import swap_layers

    model = classifier()
    with pytest.raises(TypeError, match="`model` must be a keras_hub.models.TextClassifier"):
        trim_vocabulary(model.backbone, TRAIN)
    with pytest.raises(TypeError, match="`texts` must be a list of strings"):
        trim_vocabulary(model, "book a demo")
    with pytest.raises(ValueError, match="`texts` must be a non-empty list of strings"):
        trim_vocabulary(model, [])
    with pytest.raises(TypeError, match="`keep_characters` must be True or False"):
        trim_vocabulary(model, TRAIN, keep_characters="yes")
    bare = keras_hub.models.BertTextClassifier(model.backbone, 3, preprocessor=None)
    with pytest.raises(ValueError, match="no preprocessor with a tokenizer"):
        trim_vocabulary(bare, TRAIN)
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "a": 5, "b": 6, "ab": 7}
    bpe = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=["a b"])
    roberta = keras_hub.models.RobertaTextClassifier(
        keras_hub.models.RobertaBackbone(vocabulary_size=8, num_layers=1, num_heads=2,
                                         hidden_dim=8, intermediate_dim=16, max_sequence_length=8),
        2, preprocessor=keras_hub.models.RobertaTextClassifierPreprocessor(bpe, sequence_length=8))
    with pytest.raises(ValueError, match="only WordPiece tokenizers"):
        trim_vocabulary(roberta, ["a b"])
    swapped = swap_layers(classifier(), {keras.layers.Dense: MaskedDense})
    with pytest.raises(ValueError, match="trim before `swap_layers` or after `strip`"):
        trim_vocabulary(swapped, TRAIN)


def test_minilm_on_sara_keeps_every_answer_whose_tokens_were_seen(sara_finetuned):
    model = sara_finetuned.load()
    train_texts, _ = sara_finetuned.encode("train")
    test_texts, test_labels = sara_finetuned.encode("test")
    small = trim_vocabulary(model, train_texts)
    rows = small.backbone.token_embedding.embeddings.shape[0]
    params = small.count_params() / model.count_params()
    assert rows < model.backbone.vocabulary_size // 3 and params < 0.7
    tokenizer = model.preprocessor.tokenizer
    kept = set(kept_token_ids(tokenizer, train_texts).tolist())
    seen = [all(int(i) in kept for i in np.asarray(row)) for row in _rows(tokenizer(test_texts))]
    seen_texts = [t for t, ok in zip(test_texts, seen) if ok]
    assert len(seen_texts) > len(test_texts) // 2
    np.testing.assert_allclose(small.predict(seen_texts, verbose=0),
                               model.predict(seen_texts, verbose=0), atol=1e-4)
    trimmed = evaluate(small, test_texts, test_labels)
    baseline = sara_finetuned.baseline["test"]
    print(f"\nSara MiniLM vocabulary {model.backbone.vocabulary_size} -> {rows} tokens, "
          f"{params:.1%} of the parameters; {1 - len(seen_texts) / len(test_texts):.1%} of test "
          f"messages hold an unseen piece; test macro-F1 {baseline['macro_f1']:.4f} -> "
          f"{trimmed['macro_f1']:.4f}")
    assert trimmed["macro_f1"] > baseline["macro_f1"] - 0.02
