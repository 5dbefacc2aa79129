"""Files on tasks: what every task backend promises (the world: tests/contract_world.py)."""

from __future__ import annotations

import pytest

from contract_world import World
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import NewFile, TaskNotFound

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def files(*names: str) -> list[NewFile]:
    """Checked files, as tasks/files.py makes them: a 1x1 PNG or a line of text."""
    return [
        NewFile(name, "image/png", PNG, is_image=True)
        if name.endswith(".png")
        else NewFile(name, "text/plain", f"contents of {name}\n".encode())
        for name in names
    ]


def read(world: World, who: str, task_id: int, attachment_id: int) -> bytes:
    content = world.backend.attachment_content(world.actors[who], task_id, attachment_id)
    try:
        return b"".join(content.chunks)
    finally:
        content.chunks.close()


def test_files_come_with_one_history_entry_and_read_back(world: World) -> None:
    task = world.create("alice", "P1", "Screenshots inside")
    carol = world.actors["carol"]
    journal = world.backend.add_attachments(
        carol, task.id, files("screen.png", "steps.txt"), "Both files"
    )
    db.session.commit()
    assert journal.notes == "Both files"
    assert journal.user.id == carol.user_id
    listed = world.backend.attachments(world.actors["alice"], task.id)
    assert [(a.filename, a.size, a.author.id) for a in listed] == [
        ("screen.png", len(PNG), carol.user_id),
        ("steps.txt", len(b"contents of steps.txt\n"), carol.user_id),
    ]
    assert {a.journal_id for a in listed} == {journal.id}
    assert [(d.prop_key, d.old_value, d.new_value) for d in journal.details] == [
        (f"attachment_{a.id}", None, a.filename) for a in listed
    ]
    assert read(world, "alice", task.id, listed[0].id) == PNG
    assert read(world, "admin", task.id, listed[1].id) == b"contents of steps.txt\n"
    one = world.backend.attachment(world.actors["alice"], task.id, listed[0].id)
    assert (one.filename, one.content_type, one.task_id) == ("screen.png", "image/png", task.id)
    history = world.backend.journals(world.actors["alice"], task.id)
    assert history[-1].id == journal.id


def test_files_without_notes(world: World) -> None:
    task = world.create("alice", "P2", "Just a file")
    journal = world.backend.add_attachments(world.actors["bob"], task.id, files("a.txt"))
    db.session.commit()
    assert journal.notes == ""
    assert [d.new_value for d in journal.details] == ["a.txt"]
    assert [a.filename for a in world.backend.attachments(world.actors["alice"], task.id)] == [
        "a.txt"
    ]


def test_outsiders_see_no_file_and_add_none(world: World) -> None:
    task = world.create("alice", "P1", "Private files")
    world.backend.add_attachments(world.actors["alice"], task.id, files("secret.txt"))
    db.session.commit()
    [secret] = world.backend.attachments(world.actors["alice"], task.id)
    other = world.create("alice", "P1", "Another task")
    for outsider in ("bob", "dave"):
        actor = world.actors[outsider]
        with pytest.raises(TaskNotFound):
            world.backend.attachments(actor, task.id)
        with pytest.raises(TaskNotFound):
            world.backend.attachment(actor, task.id, secret.id)
        with pytest.raises(TaskNotFound):
            world.backend.attachment_content(actor, task.id, secret.id)
        with pytest.raises(TaskNotFound):
            world.backend.delete_attachment(actor, task.id, secret.id)
        with pytest.raises(TaskNotFound):
            world.backend.add_attachments(actor, task.id, files("x.txt"))
        db.session.rollback()
    alice = world.actors["alice"]
    with pytest.raises(TaskNotFound):  # a file is found only under its own task
        world.backend.attachment(alice, other.id, secret.id)
    with pytest.raises(TaskNotFound):
        world.backend.attachment(alice, task.id, 987_654)
    assert [a.id for a in world.backend.attachments(alice, task.id)] == [secret.id]


def test_the_author_and_an_admin_delete_with_a_history_entry(world: World) -> None:
    task = world.create("alice", "P1", "Cleanup")
    alice, admin = world.actors["alice"], world.actors["admin"]
    world.backend.add_attachments(alice, task.id, files("old.txt", "keep.txt", "wrong.png"))
    db.session.commit()
    old, keep, wrong = world.backend.attachments(alice, task.id)
    removed = world.backend.delete_attachment(alice, task.id, old.id)
    db.session.commit()
    assert removed is not None
    assert [(d.prop_key, d.old_value, d.new_value) for d in removed.details] == [
        (f"attachment_{old.id}", "old.txt", None)
    ]
    assert removed.user.id == alice.user_id
    world.backend.delete_attachment(admin, task.id, wrong.id)
    db.session.commit()
    assert [a.id for a in world.backend.attachments(alice, task.id)] == [keep.id]
    with pytest.raises(TaskNotFound):
        world.backend.attachment_content(alice, task.id, old.id)


def test_texts_are_markdown(world: World) -> None:
    assert world.backend.text_format() == "markdown"
