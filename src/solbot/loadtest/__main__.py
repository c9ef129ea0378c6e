"""`python -m solbot.loadtest SCENARIO ...`: the same command as `solbot loadtest`."""

from solbot.loadtest._cli import app

if __name__ == "__main__":
    app()
