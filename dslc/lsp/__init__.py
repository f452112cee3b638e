"""The language server (`dslc lsp`): the compiler's diagnostics, shapes and names in the
editor, over the Language Server Protocol (pygls). Only this package imports pygls."""
