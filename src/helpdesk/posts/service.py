"""Announcement operations; callers commit and then delete replaced images."""

from __future__ import annotations

from flask import current_app
from werkzeug.datastructures import FileStorage

from helpdesk.core.images import store_image
from helpdesk.extensions import db
from helpdesk.posts.models import Post
from helpdesk.users.models import User


def _new_image(picture: FileStorage | None) -> str | None:
    """Store an uploaded picture, or None when none was sent (ImageRejected if it is bad)."""
    if picture is None or not picture.filename:
        return None
    return store_image(picture, "posts", current_app.config["POST_IMAGE_SIZE"])


def create_post(author: User, title: str, content: str, picture: FileStorage | None) -> Post:
    """Publish an announcement."""
    post = Post(title=title.strip(), content=content.strip(), author=author)
    post.image_post = _new_image(picture)
    db.session.add(post)
    db.session.flush()
    return post


def update_post(
    post: Post, title: str, content: str, picture: FileStorage | None, remove_picture: bool
) -> str | None:
    """Change an announcement; returns the image it no longer uses, to delete after commit."""
    new_image = _new_image(picture)
    post.title = title.strip()
    post.content = content.strip()
    replaced = None
    if new_image or remove_picture:
        replaced, post.image_post = post.image_post, new_image
    db.session.flush()
    return replaced


def delete_post(post: Post) -> str | None:
    """Remove an announcement; returns its image to delete after commit."""
    image = post.image_post
    db.session.delete(post)
    db.session.flush()
    return image
