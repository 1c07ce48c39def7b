"""reports/feedback/: safe, distinct file names from any student id; nothing outside the folder."""

from pipeline.formats.feedback import feedback_name, read_feedback, write_feedback

IDS = ["ada", "Ada", "ADA", "../../etc/passwd", "..", ".hidden", "con", "Zoë Müller",
       "name with spaces", "tab\there", "\u202egpj.exe", "a" * 300, "", "ada-2", "x;rm -rf ~"]


def test_a_plain_lower_case_id_is_its_own_file_name():
    assert feedback_name("ada") == "ada.txt"
    assert feedback_name("student_07.b-2") == "student_07.b-2.txt"


def test_every_id_gets_a_distinct_safe_name_even_ignoring_case():
    names = [feedback_name(s) for s in IDS]
    assert len({n.lower() for n in names}) == len(IDS)
    for name in names:
        assert name.endswith(".txt") and not name.startswith(".")
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789._-"), name
        assert len(name) <= 100
    assert feedback_name("con") != "con.txt"  # Windows refuses it


def test_round_trip_stays_inside_the_folder(tmp_path):
    folder = tmp_path / "reports" / "feedback"
    messages = {s: f"Hello {s},\nline two\n" for s in IDS}
    written = write_feedback(folder, messages)
    assert [p.parent for p in written] == [folder] * len(IDS)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        p.name for p in written)  # nothing else, anywhere under tmp_path
    assert read_feedback(folder, [*IDS, "nobody"]) == messages


def test_messages_of_students_gone_are_removed_other_files_kept(tmp_path):
    folder = tmp_path / "feedback"
    write_feedback(folder, {"ada": "a\n", "grace": "g\n"})
    (folder / "notes.md").write_text("the instructor's own")
    write_feedback(folder, {"ada": "a2\n"})
    assert sorted(p.name for p in folder.iterdir()) == ["ada.txt", "notes.md"]
    assert (folder / "ada.txt").read_text() == "a2\n"
