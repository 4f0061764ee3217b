"""Server-rendered pages (docs/pages.md), one module per page.

Pages only adapt a request to the domain functions (search, trace assembly, key ledgers, rates) and
render templates; every payload reaches the browser through autoescaping or ``json_script``.
"""
