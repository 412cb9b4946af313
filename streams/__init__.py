"""Stream processors: Faust agents over the contract topics, each stage a pure function inside."""
