"""Pure segment logic: the definition language, its in-memory evaluator, reference
index, time analysis and built-in templates. No I/O, no framework imports."""
