"""Pages for the reader tests: one with every block the reader renders, and one it links to."""

from __future__ import annotations

FILLER = "\n\n".join(f"Paragraph {n} of filler text so that the page is longer than one screen." for n in range(40))

PAGES = {
    "guide.md": f"""---
title: Guide
---
# Guide

Intro paragraph about the quokka tool.

{FILLER}

## Setup

Steps to set up quokkas:

- Install the **quokka** package
- Read [the reference](reference.md#options) and [an external page](https://example.org/x)
- Never [click this](javascript:alert(1))

```sh
quokka --init
```

| flag | meaning |
|---|---|
| `--fast` | go quickly |

## Usage

Run it daily.

{FILLER}

## Troubleshooting

When it breaks, read the logs.
""",
    "reference.md": "# Reference\n\n## Options\n\nThe options of the tool, one by one.\n",
}
