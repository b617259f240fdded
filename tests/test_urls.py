"""Published URLs: each generator's routing on small fixtures (golden tables), the site-config readers, and on the
real corpora a hand-checked list of pages per site (written down from each generator's documented routing rules).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.parse import read_page
from kb.siteconfig import read_site
from kb.urls import Routing, full_url, route
from tests.conftest import write_pages

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def routes_of(root: Path, routing: Routing) -> dict[str, str | None]:
    out = {}
    for p in sorted(root.rglob("*.md*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = route(routing, rel, read_page(p, rel).meta)
    return out


def test_docusaurus_routes(tmp_path: Path) -> None:
    write_pages(tmp_path, {
        "intro.md": "# Intro\n",
        "01-guides/02-setup.md": "# Setup\n",
        "01-guides/index.md": "# Guides\n",
        "api/README.md": "# API\n",
        "api/api.md": "# API again\n",
        "api/Store.md": "---\nid: store\n---\n# Store\n",
        "api/moved.md": "---\nslug: /elsewhere/here\n---\n# Moved\n",
        "api/relative.md": "---\nslug: nested/page\n---\n# Relative\n",
        "2021-08-26-welcome.md": "# Welcome\n",
        "2019-05-30-bundle/index.md": "# Bundle\n",
    })
    assert routes_of(tmp_path, Routing("docusaurus")) == {
        "01-guides/02-setup.md": "/guides/setup",
        "01-guides/index.md": "/guides/",
        "2019-05-30-bundle/index.md": "/2019/05/30/bundle",
        "2021-08-26-welcome.md": "/2021/08/26/welcome",
        "api/README.md": "/api/",
        "api/Store.md": "/api/store",
        "api/api.md": "/api/",
        "api/moved.md": "/elsewhere/here",
        "api/relative.md": "/api/nested/page",
        "intro.md": "/intro",
    }


def test_mkdocs_routes_with_and_without_directory_urls(tmp_path: Path) -> None:
    write_pages(tmp_path, {"index.md": "# Home\n", "user-guide/README.md": "# Guide\n",
                           "user-guide/writing.md": "# Writing\n", "01-numbers.md": "# Kept\n"})
    assert routes_of(tmp_path, Routing("mkdocs")) == {
        "01-numbers.md": "/01-numbers/", "index.md": "/", "user-guide/README.md": "/user-guide/",
        "user-guide/writing.md": "/user-guide/writing/"}
    assert routes_of(tmp_path, Routing("mkdocs", directory_urls=False)) == {
        "01-numbers.md": "/01-numbers.html", "index.md": "/index.html",
        "user-guide/README.md": "/user-guide/index.html", "user-guide/writing.md": "/user-guide/writing.html"}


def test_hugo_routes(tmp_path: Path) -> None:
    write_pages(tmp_path, {
        "_index.md": "# Home\n",
        "Posts/_index.md": "# Posts\n",
        "Posts/My First Post.md": "# First\n",
        "posts/bundle/index.md": "---\nslug: nice-bundle\n---\n# Bundle\n",
        "posts/sluggy.md": "---\nslug: Other Name\n---\n# Slug\n",
        "about.md": "---\nurl: /company/about-us/\n---\n# About\n",
        "_common/snippet.md": "---\n_build:\n  render: never\n---\ntext\n",
        "headless/index.md": "---\nheadless: true\n---\n# Headless\n",
    })
    assert routes_of(tmp_path, Routing("hugo")) == {
        "Posts/My First Post.md": "/posts/my-first-post/",
        "Posts/_index.md": "/posts/",
        "_common/snippet.md": None,
        "_index.md": "/",
        "about.md": "/company/about-us/",
        "headless/index.md": None,
        "posts/bundle/index.md": "/posts/nice-bundle/",
        "posts/sluggy.md": "/posts/other-name/",
    }
    assert route(Routing("hugo", lower_paths=False), "Posts/Big.md", {}) == "/Posts/Big/"


def test_jekyll_routes(tmp_path: Path) -> None:
    write_pages(tmp_path, {
        "index.md": "# Home\n",
        "about.md": "# About\n",
        "pages/team.md": "---\npermalink: /team/\n---\n# Team\n",
        "_posts/2020-05-27-jekyll-4-1-0-released.md": "---\ncategories: [release]\n---\n# Released\n",
        "_docs/setup/install.md": "# Install\n",
        "_docs/usage.md": "---\npermalink: /docs/how-to-use/\n---\n# Usage\n",
        "_drafts/idea.md": "# Not published\n",
        "readme.md": "# Excluded\n",
    })
    routing = Routing("jekyll", collections=(("docs", "/:collection/:path/", True),), exclude=("readme.md",))
    assert routes_of(tmp_path, routing) == {
        "_docs/setup/install.md": "/docs/setup/install/",
        "_docs/usage.md": "/docs/how-to-use/",
        "_drafts/idea.md": None,
        "_posts/2020-05-27-jekyll-4-1-0-released.md": "/release/2020/05/27/jekyll-4-1-0-released.html",
        "about.md": "/about.html",
        "index.md": "/",
        "pages/team.md": "/team/",
        "readme.md": None,
    }
    pretty = Routing("jekyll", permalink="pretty")
    assert route(pretty, "_posts/2020-05-27-x.md", {}) == "/2020/05/27/x/"
    news = Routing("jekyll", collections=(("posts", "/news/:year/:month/:day/:title/", True),))
    assert route(news, "_posts/2020-05-27-x.md", {"date": "2020-05-28 01:00:00 +0200"}) == "/news/2020/05/28/x/"


def test_obsidian_and_plain_routes() -> None:
    assert route(Routing("obsidian"), "Plugins/Getting started/Build a plugin.md", {}) == \
        "/Plugins/Getting+started/Build+a+plugin"
    assert route(Routing("obsidian"), "a.md", {"permalink": "short"}) == "/short"
    assert route(Routing("plain"), "guide/README.md", {}) == "/guide/"
    assert route(Routing("plain"), "guide/setup.md", {}) == "/guide/setup"
    assert route(Routing("github"), "guide/README.md", {}) == "/guide/README.md"


def test_full_url_joins_base_route_and_anchor() -> None:
    assert full_url("https://d.example/docs/", "/a b/c/", "sec-1") == "https://d.example/docs/a%20b/c/#sec-1"
    assert full_url("https://d.example", "/Getting+started/x") == "https://d.example/Getting+started/x"


def test_site_configs_give_base_url_and_routing(tmp_path: Path) -> None:
    site = tmp_path / "docusaurus"
    write_pages(site, {"docs/intro.md": "# Intro\n", "docusaurus.config.js": (
        "module.exports = {\n  title: 'X',\n  url: 'https://example.com',\n  baseUrl: '/project/',\n"
        "  presets: [['classic', {docs: {\n    routeBasePath: 'guide',\n  }}]],\n};\n")})
    info = read_site(site / "docs")
    assert (info.dialect, info.base_url) == ("docusaurus", "https://example.com/project/guide/")

    mk = tmp_path / "mk"
    write_pages(mk, {"docs/index.md": "# Home\n", "mkdocs.yml": (
        "site_name: X\nsite_url: https://mk.example.org/\nuse_directory_urls: false\n"
        "markdown_extensions:\n  - pymdownx.superfences:\n      custom_fences:\n"
        "        - name: mermaid\n          format: !!python/name:pymdownx.superfences.fence_code_format\n")})
    info = read_site(mk / "docs")
    assert (info.dialect, info.base_url, info.routing.directory_urls) == ("mkdocs", "https://mk.example.org/", False)

    hugo = tmp_path / "hugo"
    write_pages(hugo, {"content/_index.md": "# Home\n", "hugo.toml": "baseURL = 'https://gohugo.example/'\n"
                                                                      "disablePathToLower = true\n"})
    info = read_site(hugo / "content")
    assert (info.dialect, info.base_url, info.routing.lower_paths) == ("hugo", "https://gohugo.example/", False)

    jek = tmp_path / "jekyll"
    write_pages(jek, {"index.md": "# Home\n", "_config.yml": (
        "url: https://jek.example\nbaseurl: /blog\npermalink: pretty\n"
        "collections:\n  docs:\n    output: true\n    permalink: /:collection/:path/\n")})
    info = read_site(jek)
    assert (info.dialect, info.base_url) == ("jekyll", "https://jek.example/blog/")
    assert route(info.routing, "_docs/a/b.md", {}) == "/docs/a/b/"
    assert route(info.routing, "_posts/2020-01-02-hi.md", {}) == "/2020/01/02/hi/"


def test_hits_carry_url_with_the_section_anchor(tmp_path: Path) -> None:
    write_pages(tmp_path / "content", {"01-guides/setup.md": "# Setup\n\n## Install it\n\nRun the zebra installer.\n"})
    kb = KnowledgeBase(tmp_path / "content", tmp_path / "index", base_url="https://docs.example.com/",
                       dialect="docusaurus")
    try:
        hit = kb.search("zebra").hits[0]
        assert hit.url == "https://docs.example.com/guides/setup#install-it"
        assert hit.source == "content"
        assert kb.section("01-guides/setup", "install-it").url == hit.url
        assert kb.page("01-guides/setup").url == "https://docs.example.com/guides/setup"
    finally:
        kb.close()
    kb = KnowledgeBase(tmp_path / "content", tmp_path / "index2")
    try:
        assert kb.search("zebra").hits[0].url is None  # no base URL known: no URL, never a guess
    finally:
        kb.close()


# On the real corpora: (dialect, content folder, base URL or None to read it from the site's config, and pages with
# the URL written down by hand from the generator's routing rules).
REAL = {
    "redux-docs": ("docusaurus", "docs", "https://redux.js.org/", {
        # Docusaurus: front matter `id` names the page, README.md is its folder; redux routes docs at '/'.
        "introduction/GettingStarted.md": "https://redux.js.org/introduction/getting-started",
        "introduction/README.md": "https://redux.js.org/introduction/",
        "tutorials/typescript.md": "https://redux.js.org/tutorials/typescript-quick-start",
        "api/applyMiddleware.md": "https://redux.js.org/api/applymiddleware",
        "api/Store.md": "https://redux.js.org/api/store",
        "faq/Performance.md": "https://redux.js.org/faq/performance",
        "usage/UsageWithTypescript.md": "https://redux.js.org/usage/usage-with-typescript",
        "usage/structuring-reducers/BasicReducerStructure.md":
            "https://redux.js.org/usage/structuring-reducers/basic-reducer-structure",
        "tutorials/essentials/part-3-data-flow.md": "https://redux.js.org/tutorials/essentials/part-3-data-flow",
        "style-guide/style-guide.md": "https://redux.js.org/style-guide/",
        "FAQ.md": "https://redux.js.org/faq",
    }),
    "docs.wgtwo.com": ("docusaurus", "docs", "https://docs.wgtwo.com/", {
        "events-how-to.md": "https://docs.wgtwo.com/events-how-to",
        "intro-get-started.md": "https://docs.wgtwo.com/intro-get-started",
        "provision-overview.md": "https://docs.wgtwo.com/provision-overview",
        "oauth2-get-client-access-token.md": "https://docs.wgtwo.com/oauth2-get-client-access-token",
        "number-lookup-how-to.md": "https://docs.wgtwo.com/number-lookup-how-to",
        "metrics-how-to.md": "https://docs.wgtwo.com/metrics-how-to",
        "sipbreakout-how-to.md": "https://docs.wgtwo.com/sipbreakout-how-to",
        "events-api-reference.md": "https://docs.wgtwo.com/events-api-reference",
        "webterminal-how-to.md": "https://docs.wgtwo.com/webterminal-how-to",
        "provision-service-list.md": "https://docs.wgtwo.com/provision-service-list",
    }),
    "fastapi-docs": ("mkdocs", "docs/en/docs", "https://fastapi.tiangolo.com/", {
        # MkDocs with use_directory_urls: a/b.md -> /a/b/, index.md -> its folder.
        "index.md": "https://fastapi.tiangolo.com/",
        "tutorial/index.md": "https://fastapi.tiangolo.com/tutorial/",
        "tutorial/first-steps.md": "https://fastapi.tiangolo.com/tutorial/first-steps/",
        "tutorial/security/get-current-user.md": "https://fastapi.tiangolo.com/tutorial/security/get-current-user/",
        "advanced/websockets.md": "https://fastapi.tiangolo.com/advanced/websockets/",
        "advanced/behind-a-proxy.md": "https://fastapi.tiangolo.com/advanced/behind-a-proxy/",
        "how-to/index.md": "https://fastapi.tiangolo.com/how-to/",
        "reference/uploadfile.md": "https://fastapi.tiangolo.com/reference/uploadfile/",
        "release-notes.md": "https://fastapi.tiangolo.com/release-notes/",
        "python-types.md": "https://fastapi.tiangolo.com/python-types/",
        "fastapi-cli.md": "https://fastapi.tiangolo.com/fastapi-cli/",
    }),
    "hugo-docs": ("hugo", "content/en", "https://gohugo.io/", {
        # Hugo: lowercased paths with a trailing slash, _index.md/index.md as the folder, front matter `url` wins.
        "_index.md": "https://gohugo.io/",
        "installation/_index.md": "https://gohugo.io/installation/",
        "methods/page/IsPage.md": "https://gohugo.io/methods/page/ispage/",
        "functions/hugo/BuildDate.md": "https://gohugo.io/functions/hugo/builddate/",
        "functions/urls/AbsURL.md": "https://gohugo.io/functions/urls/absurl/",
        "functions/resources/GetRemote.md": "https://gohugo.io/functions/resources/getremote/",
        "configuration/permalinks.md": "https://gohugo.io/configuration/permalinks/",
        "host-and-deploy/host-on-cloudflare/index.md": "https://gohugo.io/host-and-deploy/host-on-cloudflare/",
        "commands/hugo_convert_toJSON.md": "https://gohugo.io/commands/hugo_convert_tojson/",
        "content-management/data-sources.md": "https://gohugo.io/content-management/data-sources/",
        "news/_index.md": "https://gohugo.io/news/",
    }),
    "jekyll-docs": ("jekyll", "docs", None, {
        # Jekyll, from the site's own _config.yml: url https://jekyllrb.com, docs at /:collection/:path/, posts at
        # /news/:year/:month/:day/:title/; readme.md is excluded, so it has no URL.
        "_docs/configuration.md": "https://jekyllrb.com/docs/configuration/",
        "_docs/installation/other-linux.md": "https://jekyllrb.com/docs/installation/other-linux/",
        "_docs/continuous-integration/buddyworks.md": "https://jekyllrb.com/docs/continuous-integration/buddyworks/",
        "_docs/plugins.md": "https://jekyllrb.com/docs/plugins/",
        "_posts/2016-11-14-jekyll-3-3-1-released.markdown":
            "https://jekyllrb.com/news/2016/11/14/jekyll-3-3-1-released/",
        "_posts/2019-07-02-jekyll-3-8-6-released.markdown":
            "https://jekyllrb.com/news/2019/07/02/jekyll-3-8-6-released/",
        "_posts/2015-10-26-jekyll-3-0-released.markdown": "https://jekyllrb.com/news/2015/10/26/jekyll-3-0-released/",
        "_tutorials/csv-to-table.md": "https://jekyllrb.com/tutorials/csv-to-table/",
        "_tutorials/convert-site-to-jekyll.md": "https://jekyllrb.com/tutorials/convert-site-to-jekyll/",
        "pages/team.md": "https://jekyllrb.com/team/",
        "readme.md": None,
    }),
    "obsidian-developer-docs": ("obsidian", "en", "https://docs.obsidian.md/", {
        # Obsidian Publish: the note's path without extension, spaces as '+'.
        "Plugins/Getting started/Build a plugin.md": "https://docs.obsidian.md/Plugins/Getting+started/Build+a+plugin",
        "Reference/TypeScript API/Editor/scrollTo.md":
            "https://docs.obsidian.md/Reference/TypeScript+API/Editor/scrollTo",
        "Reference/TypeScript API/BasesView.md": "https://docs.obsidian.md/Reference/TypeScript+API/BasesView",
        "Reference/CSS variables/Components/Dropdowns.md":
            "https://docs.obsidian.md/Reference/CSS+variables/Components/Dropdowns",
        "Themes/App themes/Build a theme.md": "https://docs.obsidian.md/Themes/App+themes/Build+a+theme",
        "Themes/App themes/Theme guidelines.md": "https://docs.obsidian.md/Themes/App+themes/Theme+guidelines",
        "Themes/Obsidian Publish themes/Build a Publish theme.md":
            "https://docs.obsidian.md/Themes/Obsidian+Publish+themes/Build+a+Publish+theme",
        "Reference/TypeScript API/Workspace/leftRibbon.md":
            "https://docs.obsidian.md/Reference/TypeScript+API/Workspace/leftRibbon",
        "Reference/TypeScript API/SubpathResult.md": "https://docs.obsidian.md/Reference/TypeScript+API/SubpathResult",
        "Reference/TypeScript API/ObjectValue/get.md":
            "https://docs.obsidian.md/Reference/TypeScript+API/ObjectValue/get",
    }),
}


@pytest.mark.parametrize("corpus", sorted(REAL))
def test_real_corpus_urls(corpus: str) -> None:
    dialect, folder, base, expected = REAL[corpus]
    root = CORPUS / corpus / folder
    if not root.is_dir():
        pytest.skip(f"corpus {root} is not here")
    site = read_site(root, dialect)
    base_url = base or site.base_url
    got = {}
    for rel in expected:
        path = root / rel
        assert path.is_file(), rel
        r = route(site.routing, rel, read_page(path, rel).meta)
        got[rel] = full_url(base_url, r) if r is not None else None
    assert got == expected
