"""One module per ``unrolled`` subcommand, each with ``add_parser(subparsers)`` and ``run(args)``."""
