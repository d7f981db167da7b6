pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.databases",
    "tests.support.console",
    "tests.support.fake_slack",
]
