"""Each recipe on a miniature tree that follows the corpus' official naming, with synthetic audio."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from after.data.corpora import RECIPES, PrepareError, get_recipe
from after.data.labels import LABEL_MAPS, apply_label_map

# corpus -> (relative paths, {id: (speaker, gender, emotion, original_label)})
MINI = {
    "ravdess": (["Actor_01/03-01-05-02-01-01-01.wav", "Actor_02/03-01-06-01-02-02-02.wav"],
                {"ravdess_03-01-05-02-01-01-01": ("ravdess_01", "m", "angry", "05:angry"),
                 "ravdess_03-01-06-01-02-02-02": ("ravdess_02", "f", "fear", "06:fearful")}),
    "emodb": (["wav/03a01Fa.wav", "wav/08b02Tc.wav", "wav/16a05Lb.wav"],
              {"emodb_03a01Fa": ("emodb_03", "m", "happy", "F:Freude"),
               "emodb_08b02Tc": ("emodb_08", "f", "sad", "T:Trauer"),
               "emodb_16a05Lb": ("emodb_16", "f", "boredom", "L:Langeweile")}),
    "turev": (["Sound Source/Angry/1157_kz_acik.wav", "Sound Source/Calm/1234_sk_beste.wav"],
              {"turev_db_1157_kz_acik": ("turev_1157", "unknown", "angry", "Angry:kz"),
               "turev_db_1234_sk_beste": ("turev_1234", "unknown", "calm", "Calm:sk")}),
    "cremad": (["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav"],
               {"cremad_1001_DFA_ANG_XX": ("cremad_1001", "m", "angry", "ANG"),
                "cremad_1002_IEO_HAP_HI": ("cremad_1002", "f", "happy", "HAP")}),
    "savee": (["AudioData/DC/a01.wav", "AudioData/JE/sa02.wav", "AudioData/KL/su01.wav", "AudioData/JK/n30.wav"],
              {"savee_DC_a01": ("savee_DC", "m", "angry", "a"), "savee_JE_sa02": ("savee_JE", "m", "sad", "sa"),
               "savee_KL_su01": ("savee_KL", "m", "surprise", "su"),
               "savee_JK_n30": ("savee_JK", "m", "neutral", "n")}),
    "tess": (["OAF_angry/OAF_back_angry.wav", "YAF_pleasant_surprised/YAF_back_ps.wav"],
             {"tess_OAF_back_angry": ("tess_OAF", "f", "angry", "angry"),
              "tess_YAF_back_ps": ("tess_YAF", "f", "surprise", "ps")}),
    "shemo": (["female/F01A01.wav", "male/M02W03.wav"],
              {"shemo_F01A01": ("shemo_F01", "f", "angry", "A"), "shemo_M02W03": ("shemo_M02", "m", "surprise", "W")}),
    "emovdb": (["bea_Amused/amused_1-15_0001.wav", "sam_Sleepy/sleepiness_1-28_0002.wav",
                "jenie_Disgusted/disgust_1-28_0003.wav"],
               {"emovdb_bea_amused_1-15_0001": ("emovdb_bea", "f", "amused", "Amused"),
                "emovdb_sam_sleepiness_1-28_0002": ("emovdb_sam", "m", "sleepy", "Sleepy"),
                "emovdb_jenie_disgust_1-28_0003": ("emovdb_jenie", "f", "disgust", "Disgusted")}),
}


@pytest.mark.parametrize("corpus", sorted(MINI))
def test_recipe_parses_official_names(tree, corpus: str):
    files, expected = MINI[corpus]
    root = tree(files)
    if corpus == "cremad":
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n", encoding="utf-8")
    m = RECIPES[corpus](root).manifest
    got = {u.id: (u.speaker, u.gender, u.emotion, u.original_label) for u in m}
    assert got == expected
    assert all(u.duration_s == pytest.approx(0.25) for u in m)


@pytest.mark.parametrize("corpus, bad_name, problem", [
    ("ravdess", "Actor_03/03-01-05-01-01-01-04.wav", "actor 04 in the name"),
    ("ravdess", "Actor_03/notes.wav", "RAVDESS naming"),
    ("emodb", "wav/03a01Xa.wav", "emotion letter 'X'"),
    ("turev", "Sound Source/Happy/1157_kz_acik.wav", "disagrees with folder Happy"),
    ("shemo", "female/F01Q01.wav", "emotion letter 'Q'"),
    ("savee", "AudioData/ZZ/a01.wav", "not a SAVEE file"),
])
def test_misnamed_files_are_listed(tree, corpus: str, bad_name: str, problem: str):
    files, _ = MINI[corpus]
    root = tree(files + [bad_name])
    with pytest.raises(PrepareError) as err:
        RECIPES[corpus](root)
    assert Path(bad_name).name in str(err.value) and problem in str(err.value)
    assert len(err.value.bad_files) == 1


def test_ravdess_metadata_from_the_name(tree):
    u = RECIPES["ravdess"](tree(MINI["ravdess"][0])).manifest.by_id("ravdess_03-01-05-02-01-01-01")
    assert (u.text, u.language, u.extra["intensity"], u.extra["statement"]) == (
        "Kids are talking by the door", "en", "strong", "01")


def test_cremad_without_demographics_has_unknown_gender(tree):
    result = RECIPES["cremad"](tree(MINI["cremad"][0]))
    assert {u.gender for u in result.manifest} == {"unknown"}
    assert any("VideoDemographics.csv" in n for n in result.notes)


def test_nemo_reads_labels_from_data_tsv(tree):
    root = tree(["samples/EB0_anger_1.wav", "samples/KS0_surprised_10.wav", "samples/XX0_fear_3.wav"])
    (root / "data.tsv").write_text(
        "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage\n"
        "EB0_anger_1.wav\tanger\tLubię czytać przed snem.\tlubię czytać przed snem\t        EB0\tfemale\t27\n"
        "KS0_surprised_10.wav\tsurprised\tKupiłem nową szafę.\tkupiłem nową szafę\t        KS0\tmale\t23\n",
        encoding="utf-8")
    with pytest.raises(PrepareError, match="XX0_fear_3.wav: not listed in data.tsv"):
        RECIPES["nemo"](root)
    result = RECIPES["nemo"](root, on_error="skip")
    m = result.manifest
    assert [(u.id, u.speaker, u.gender, u.emotion) for u in m] == [
        ("nemo_EB0_anger_1", "nemo_EB0", "f", "angry"), ("nemo_KS0_surprised_10", "nemo_KS0", "m", "surprise")]
    assert m.by_id("nemo_EB0_anger_1").text == "Lubię czytać przed snem."
    assert m.by_id("nemo_EB0_anger_1").extra["sentence_id"] == "1"
    assert [Path(b.path).name for b in result.skipped] == ["XX0_fear_3.wav"]


def _iemocap_session(root: Path, n: int, make_wav) -> None:
    ses = root / f"Session{n}"
    dialog = f"Ses0{n}F_impro01"
    (ses / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (ses / "dialog" / "transcriptions").mkdir(parents=True)
    (ses / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        f"[6.2901 - 8.2357]\t{dialog}_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nC-F1:\tNeutral;\t(curious)\n"
        "A-E3:\tval 3; act 2; dom  2;\t()\n\n"
        f"[10.0100 - 11.3925]\t{dialog}_M000\texc\t[3.5000, 3.5000, 3.0000]\n"
        "C-E2:\tExcited; Happiness;\t()\nC-E3:\tExcited;\t()\nC-E4:\tNeutral;\t()\n\n"
        f"[14.8872 - 18.0175]\t{dialog}_F001\txxx\t[2.5000, 3.0000, 3.0000]\n"
        "C-E2:\tFrustration;\t()\nC-E3:\tAnger;\t()\nC-E4:\tNeutral;\t()\n", encoding="utf-8")
    (ses / "dialog" / "transcriptions" / f"{dialog}.txt").write_text(
        f"{dialog}_F000 [006.2901-008.2357]: Excuse me.\n{dialog}_M000 [010.0100-011.3925]: Do you have your forms?\n",
        encoding="utf-8")
    for turn in ("F000", "M000", "F001"):
        make_wav(ses / "sentences" / "wav" / dialog / f"{dialog}_{turn}.wav")


def test_iemocap_official_release(tmp_path: Path, make_wav):
    root = tmp_path / "IEMOCAP_full_release"
    for n in (1, 2):
        _iemocap_session(root, n, make_wav)
    m = RECIPES["iemocap"](root).manifest
    assert len(m) == 6
    u = m.by_id("iemocap_Ses01F_impro01_M000")
    assert (u.speaker, u.gender, u.session, u.emotion, u.original_label) == (
        "iemocap_Ses01M", "m", "Session1", "excited", "exc")
    assert u.text == "Do you have your forms?"
    evaluators = json.loads(u.extra["evaluator_labels"])
    assert evaluators == [{"evaluator": "E2", "labels": ["excited", "happy"]},
                          {"evaluator": "E3", "labels": ["excited"]}, {"evaluator": "E4", "labels": ["neutral"]}]
    assert m.by_id("iemocap_Ses02F_impro01_F001").emotion == "no_agreement"
    assert m.speakers() == ["iemocap_Ses01F", "iemocap_Ses01M", "iemocap_Ses02F", "iemocap_Ses02M"]
    four, dropped = apply_label_map(m, LABEL_MAPS["4class"])
    assert dropped == {"no_agreement": 2}
    assert four.by_id("iemocap_Ses01F_impro01_M000").emotion == "happy"


def test_iemocap_missing_wav_is_a_bad_file(tmp_path: Path, make_wav):
    root = tmp_path / "IEMOCAP_full_release"
    _iemocap_session(root, 1, make_wav)
    (root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav").unlink()
    with pytest.raises(PrepareError, match="Ses01F_impro01_F001.wav: file not found"):
        RECIPES["iemocap"](root)


def test_folder_recipe_with_and_without_speaker_regex(tree):
    root = tree(["Anger/spk1_001.wav", "Anger/spk2_001.wav", "happy/spk1_002.wav", "Neutral/spk2_003.wav"],
                root_name="MyCorpus")
    result = RECIPES["folder"](root, speaker_regex=r"(?P<speaker>spk\d+)_")
    m = result.manifest
    assert m.speakers() == ["mycorpus_spk1", "mycorpus_spk2"]
    assert m.by_id("mycorpus_Anger-spk1_001").emotion == "angry"
    assert m.labels() == ["angry", "happy", "neutral"]
    assert result.notes == ()
    fallback = RECIPES["folder"](root)
    assert len(fallback.manifest.speakers()) == 4
    assert any("NOT be speaker-independent" in n for n in fallback.notes)


def test_folder_recipe_reports_unmatched_speaker_regex(tree):
    root = tree(["sad/spk1_001.wav", "sad/other.wav"])
    with pytest.raises(PrepareError, match="does not match sad/other.wav"):
        RECIPES["folder"](root, speaker_regex=r"(spk\d+)_")


def test_csv_recipe(tmp_path: Path, make_wav):
    make_wav(tmp_path / "clips" / "a.wav")
    make_wav(tmp_path / "clips" / "b.wav")
    table = tmp_path / "mine.csv"
    table.write_text("path,label,speaker,gender,accent\nclips/a.wav,Happiness,s1,female,scottish\n"
                     "clips/b.wav,sad,s2,M,\n", encoding="utf-8")
    m = RECIPES["csv"](table).manifest
    assert [(u.id, u.speaker, u.gender, u.emotion, u.original_label) for u in m] == [
        ("mine_clips-a", "mine_s1", "f", "happy", "Happiness"), ("mine_clips-b", "mine_s2", "m", "sad", "sad")]
    assert m.by_id("mine_clips-a").extra == {"accent": "scottish"}


def test_unknown_corpus_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: ravdess, emodb"):
        get_recipe("nosuchcorpus")
    assert get_recipe("turev_db") is RECIPES["turev"]
