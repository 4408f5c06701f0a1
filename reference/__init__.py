"""Reference servers for the demo and the tests, outside the product: the workflow platform (`platform`), the
Slack stand-in (`slack`) and the browser sandbox page it serves (`sandbox`, `static/`).

The product (`bot`, `handlers`, `store`) never imports this package; only the demo wiring does, lazily
(`bot.cli`, `bot.demo`), and `.importlinter` checks it.
"""
