"""The HTML report's sections, one small view-model each: dhcp, ad, certificates, devices and
handshake.

Each module holds frozen dataclasses and one `build(results) -> <Section>View`. The builder
does everything a section needs from the results: it selects them by check ID, reads their
evidence, groups and de-duplicates. The templates (reports/templates/_<section>.html.j2)
only render what it built. Each evidence key a builder reads is named once, in its module,
in a class that names the check writing it and the module that defines it.

Evidence is free-form JSON (the schema says "an object", no more), and `report RUN.json`
renders any saved run: a builder reads every evidence value through the accessors of
`common`, so a missing key or a value of an unexpected type shows as nothing, never as a
traceback.
"""
