"""The grader's own tests: each stage of ``grading``, the platforms, the
student edition as a product, and the proof set's verdicts."""
