"""Load, fault and OTLP request builders shared by the soak benchmarks and the reliability tests."""
