@testable import gururmm
import Testing

/// The cluster bench's failover timeline: each threshold keeps the first time it was seen crossed.
@Suite("Cluster bench: failover timeline")
struct FailoverTimelineTests {
    @Test("thresholds keep their first crossing; complete only when every agent is back and every command done")
    func firstCrossings() {
        var timeline = FailoverTimeline(agents: 4, queued: 4)
        timeline.observe(at: 0.1, reconnected: 0, delivered: 1, done: 0)
        #expect(timeline.firstReconnected == nil && !timeline.isComplete)
        timeline.observe(at: 0.6, reconnected: 2, delivered: 2, done: 2)
        timeline.observe(at: 1.1, reconnected: 4, delivered: 4, done: 3)
        #expect(timeline.firstReconnected == 0.6 && timeline.allReconnected == 1.1 && timeline.allDelivered == 1.1)
        #expect(timeline.firstDone == 0.6 && timeline.halfDone == 0.6 && timeline.allDone == nil && !timeline.isComplete)
        timeline.observe(at: 1.4, reconnected: 4, delivered: 4, done: 4)
        timeline.observe(at: 2.0, reconnected: 4, delivered: 4, done: 4)
        #expect(timeline.allDone == 1.4 && timeline.isComplete && timeline.backAndDone == 1.4)
    }

    @Test("work done before the agents are all back: back-and-done is the later of the two")
    func doneBeforeBack() {
        var timeline = FailoverTimeline(agents: 2, queued: 1)
        timeline.observe(at: 0.5, reconnected: 1, delivered: 1, done: 1)
        #expect(timeline.allDone == 0.5 && timeline.backAndDone == nil)
        timeline.observe(at: 3.0, reconnected: 2, delivered: 1, done: 1)
        #expect(timeline.backAndDone == 3.0)
    }
}
