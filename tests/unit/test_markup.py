"""The one rendering of what people write (core/markup.py): CommonMark, sanitised."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from helpdesk.core.markup import render_markdown


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**bold** and *em*", "<p><strong>bold</strong> and <em>em</em></p>\n"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'),
        ("`a < b`", "<p><code>a &lt; b</code></p>\n"),
        ("```sql\nselect 1;\n```", "<pre><code>select 1;\n</code></pre>\n"),
        ("first\nsecond", "<p>first<br>\nsecond</p>\n"),
        ("~~gone~~", "<p><s>gone</s></p>\n"),
        (
            "see https://example.com/a?b=1&c=2.",
            '<p>see <a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">'
            "https://example.com/a?b=1&amp;c=2</a>.</p>\n",
        ),
        (
            "[mail](mailto:help@example.com)",
            '<p><a href="mailto:help@example.com" rel="nofollow noopener">mail</a></p>\n',
        ),
        ("<b>raw</b>", "<p>&lt;b&gt;raw&lt;/b&gt;</p>\n"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"),
        ("[x](ftp://files.example/a)", '<p><a rel="nofollow noopener">x</a></p>\n'),
        ("![pixel](https://tracker.example/p.png)", "<p>!"),
        ("", ""),
    ],
)
def test_markdown_renders_and_sanitises(text: str, html: str) -> None:
    rendered = render_markdown(text)
    assert isinstance(rendered, Markup)
    assert str(rendered).startswith(html)
    assert "<img" not in rendered


def test_plain_text_is_shown_as_typed() -> None:
    rendered = render_markdown("*not em* <b>x</b>\nline", plain=True)
    assert str(rendered) == '<p class="text-pre-line">*not em* &lt;b&gt;x&lt;/b&gt;\nline</p>'


def test_a_link_title_and_unknown_attributes() -> None:
    rendered = str(render_markdown('[t](https://a.example "Title")'))
    assert rendered == (
        '<p><a href="https://a.example" title="Title" rel="nofollow noopener">t</a></p>\n'
    )
