"""The book's builder: ``python -m book.build`` (see build.py); the chapters live in tutorials/."""
