import Foundation
import RMMProtocol
import Testing
@testable import RMMServer

@Suite struct MetricChartSVGTests {
    @Test func drawsOneLinePerSeriesAndRunWithGapsLeftOut() {
        let t0 = AgentMetricHistoryTests.t0
        var history = AgentMetricHistory()
        history.record(AgentMetricHistoryTests.sample(cpu: 10), now: t0.addingTimeInterval(-120))
        history.record(AgentMetricHistoryTests.sample(cpu: 90, memory: nil), now: t0.addingTimeInterval(-60))
        // Nothing at t0: a gap, then one more point.
        history.record(AgentMetricHistoryTests.sample(cpu: 50, memory: nil, disk: nil), now: t0.addingTimeInterval(60))
        let svg = MetricChartSVG.render(history.points(.day, now: t0.addingTimeInterval(60)), range: .day)
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("data-range=\"day\""))
        // Points 1436 and 1437 of 1,440 across 710 pixels from x = 40; 0–100 % up 140 pixels from y = 166.
        #expect(svg.contains("<polyline data-series=\"CPU\" points=\"748.5,152 749,40\""))
        #expect(svg.contains("<circle data-series=\"CPU\" cx=\"750\" cy=\"96\" r=\"2\""))
        #expect(svg.contains("<circle data-series=\"memory\" cx=\"748.5\" cy=\"96\" r=\"2\""))
        #expect(svg.contains("<polyline data-series=\"disk\" points=\"748.5,131 749,131\""))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 2)
        #expect(!svg.contains("style"))
        #expect(!svg.contains("<script"))
        #expect(svg.contains(">100%<"))
    }

    @Test func anEmptyHistoryDrawsTheAxesAlone() {
        let svg = MetricChartSVG.render(AgentMetricHistory().points(.month, now: AgentMetricHistoryTests.t0), range: .month)
        #expect(!svg.contains("<polyline"))
        #expect(svg.contains("data-range=\"month\""))
        #expect(svg.contains("15-minute points"))
        #expect(svg.hasSuffix("</svg>"))
    }

    @Test func runsSplitAtGaps() {
        let runs = MetricChartSVG.runs([1, nil, 2, 3, nil, nil, 4])
        #expect(runs.map { $0.map(\.index) } == [[0], [2, 3], [6]])
        #expect(runs.map { $0.map(\.value) } == [[1], [2, 3], [4]])
    }

    @Test func coordinatesHaveOneDecimalWhateverTheLocale() {
        #expect([0, 40, 40.04, 40.25, 748.5198, 1e-9, -3].map(MetricChartSVG.fixed) == ["0", "40", "40", "40.3", "748.5", "0", "0"])
    }

    @Test func theTimeLabelsAreUTC() {
        let at = Date(timeIntervalSince1970: 1_799_971_200 + 9 * 3600 + 5 * 60)
        #expect(MetricChartSVG.label(at, .day) == "2027-01-15 09:05 UTC")
        #expect(MetricChartSVG.label(at, .month) == "2027-01-15")
    }
}
