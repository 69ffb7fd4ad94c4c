"""Operator tools and benchmarks: the cranks (`crank`, `sched_crank`), the input `bot`, the
scripted `demo` and `er_session`, the `fuzz`er, and `bench`, `bench_er`, `bench_sessions`
(with `measure`'s percentiles). `python -m onchain` runs the command-line ones."""
