"""PySide6 touchscreen UI: screens, theme, translations, and the one bridge from workers to the GUI thread."""
