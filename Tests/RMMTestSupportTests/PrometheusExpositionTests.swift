import RMMTestSupport
import Testing

/// The strict exposition-format reader the metrics tests rely on: it must refuse what Prometheus would.
@Suite("Prometheus exposition reader")
struct PrometheusExpositionTests {
    @Test("a well-formed body parses: help, type, labels with escapes, histogram series, special values")
    func reads() throws {
        let body = """
        # HELP a_total Things.
        # TYPE a_total counter
        a_total{kind="x\\"y\\\\z\\n"} 3
        # TYPE h_seconds histogram
        h_seconds_bucket{le="0.5"} 1
        h_seconds_bucket{le="+Inf"} 2
        h_seconds_sum 1.5
        h_seconds_count 2
        # TYPE g gauge
        g NaN
        g{x="1"} -Inf 1700000000

        """
        let samples = try PrometheusExposition.parse(body)
        #expect(samples.count == 7)
        #expect(samples.value("a_total", ["kind": "x\"y\\z\n"]) == 3)
        #expect(samples.value("h_seconds_bucket", ["le": "+Inf"]) == 2)
    }

    @Test("what breaks the format is refused", arguments: [
        "a_total 1",  // no newline at the end
        "a_total 1\n",  // no TYPE
        "# TYPE a_total counter\na_total{k=\"v\"} 1 2 3\n",
        "# TYPE a counter\na 1\n",  // a counter without _total
        "# TYPE a gauge\na{1k=\"v\"} 1\n",
        "# TYPE a gauge\na{k=v} 1\n",
        "# TYPE a gauge\na{k=\"v\\t\"} 1\n",
        "# TYPE a gauge\na{k=\"v\"} one\n",
        "# TYPE a gauge\na{k=\"v\"} inf\n",
        "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n",
        "# TYPE a gauge\na 1\n# HELP a late\n",
        "# TYPE 1a gauge\n1a 1\n",
        "# a comment\n",
        "# TYPE a gauge\na{k=\"v\"} 1\n\"} 1\n",
    ])
    func refuses(body: String) {
        #expect(throws: PrometheusExposition.Problem.self) { try PrometheusExposition.parse(body) }
    }
}
