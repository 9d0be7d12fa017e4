import Foundation
import Logging
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

/// The session's side of the metric history: heartbeats kept, folded into the stored history with
/// the liveness flush and at a detach, added to by the next session, and a damaged blob taken as none.
@Suite struct SessionMetricHistoryTests {
    static let closure = LinkClosure(code: 1000, reason: "bye", byPeer: true)

    static func stored(_ store: any MetricHistoryStore, _ agentId: String) async throws -> AgentMetricHistory? {
        guard let data = try await store.metricHistory(agentId: agentId) else { return nil }
        return try MetricHistoryCodec.decode(data).get()
    }

    @Test func aDetachSavesTheHistoryAndTheNextSessionAddsToIt() async throws {
        let (store, agentId, session, _) = try await Fixture.attachedSession()
        await session.recordMetrics(AgentMetricHistoryTests.sample(cpu: 42), at: Fixture.t0.addingTimeInterval(1))
        await session.detach(epoch: 1, closure: Self.closure, now: Fixture.at(2))
        let saved = try #require(try await Self.stored(store, agentId))
        #expect(saved.points(.day, now: Fixture.at(2)).last?.cpu == 42)

        // A new session (a restart) adds to the stored history; a chart drawn before its write
        // sees the stored points with its unsaved ones.
        let next = Fixture.session(agentId: agentId, store: store)
        await next.attach(link: try await TestLink.make().link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(120))
        await next.recordMetrics(AgentMetricHistoryTests.sample(cpu: 43), at: Fixture.at(121))
        var drawn = saved
        drawn.record(await next.unsavedMetricSamples, now: Fixture.at(121))
        #expect(drawn.points(.day, now: Fixture.at(121)).compactMap(\.cpu) == [42, 43])
        await next.detach(epoch: 2, closure: Self.closure, now: Fixture.at(122))
        #expect(try await Self.stored(store, agentId)?.points(.day, now: Fixture.at(122)).compactMap(\.cpu) == [42, 43])
        #expect(await next.unsavedMetricSamples.isEmpty)
    }

    @Test func theHistoryRidesTheLivenessFlushAtMostOncePerInterval() async throws {
        let (_, _, session, _) = try await Fixture.attachedSession()
        await session.recordMetrics(AgentMetricHistoryTests.sample(cpu: 5), at: Fixture.t0)
        var savedAt: Double?
        for second in stride(from: 0.0, through: 400, by: 5) {
            if let samples = await session.duties(now: Fixture.at(second)).history {
                #expect(samples.map(\.metrics.cpuPercent) == [5])
                savedAt = second
                break
            }
        }
        let first = try #require(savedAt, "saved within the interval and a flush")
        #expect(first <= HistorySaveSchedule.interval + 35)
        // Nothing new: not saved again; a new sample: saved no sooner than an interval later.
        #expect(await session.duties(now: Fixture.at(first + 40)).history == nil)
        await session.recordMetrics(AgentMetricHistoryTests.sample(cpu: 6), at: Fixture.at(first + 41))
        #expect(await session.duties(now: Fixture.at(first + 100)).history == nil)
        var again = false
        for second in stride(from: first + 100, through: first + HistorySaveSchedule.interval + 40, by: 5) {
            if await session.duties(now: Fixture.at(second)).history != nil { again = second >= first + HistorySaveSchedule.interval; break }
        }
        #expect(again)
    }

    @Test func aDamagedBlobIsTakenAsNoHistoryAndReplacedAtTheNextSave() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        try await store.saveMetricHistories([(agentId, Data([1, 2, 3]))], now: Fixture.t0)
        let session = Fixture.session(agentId: agentId, store: store)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Fixture.t0)
        #expect(session.liveEpoch.value == 1, "the connection attached")
        // The next write starts the history again from its samples.
        await session.recordMetrics(AgentMetricHistoryTests.sample(cpu: 7), at: Fixture.at(4))
        await session.detach(epoch: 1, closure: Self.closure, now: Fixture.at(5))
        #expect(try await Self.stored(store, agentId)?.points(.day, now: Fixture.at(5)).compactMap(\.cpu) == [7])
    }

    @Test func aFailedDetachSaveIsWrittenAgainLater() async throws {
        let (base, store, agentId, session, _) = try await Fixture.faultySession()
        await session.recordMetrics(AgentMetricHistoryTests.sample(cpu: 9), at: Fixture.at(1))
        store.failHistorySaves.withLock { $0 = 1 }
        await session.detach(epoch: 1, closure: Self.closure, now: Fixture.at(2))
        #expect(try await base.metricHistory(agentId: agentId) == nil)
        // The next connection's detach writes what the failed one could not.
        await session.attach(link: try await TestLink.make().link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(3))
        await session.detach(epoch: 2, closure: Self.closure, now: Fixture.at(4))
        #expect(try await Self.stored(base, agentId)?.points(.day, now: Fixture.at(4)).last?.cpu == 9)
    }

    @Test func anUnreadableBlobIsReportedOnceAnAgentForABoundedNumberOfAgents() {
        let notices = UnreadableHistoryNotices(capacity: 2)
        #expect(notices.first(agentId: "ag_1"))
        #expect(!notices.first(agentId: "ag_1"))
        #expect(notices.first(agentId: "ag_2"))
        #expect(!notices.first(agentId: "ag_3"), "past the capacity nothing more is noted")
    }

    @Test func aSessionKeepsOneSampleAMinuteAndAtMostAnHour() {
        var pending = PendingMetricSamples()
        var kept = pending.add(AgentMetricHistoryTests.sample(cpu: 1), at: Fixture.at(0))
        #expect(kept)
        kept = pending.add(AgentMetricHistoryTests.sample(cpu: 2), at: Fixture.at(10))
        #expect(kept && pending.samples.map(\.metrics.cpuPercent) == [2], "same minute: replaces")
        kept = pending.add(AgentMetricHistoryTests.sample(cpu: .nan, memory: nil, disk: (1, 0)), at: Fixture.at(60))
        #expect(!kept, "nothing usable: not kept")
        kept = pending.add(AgentMetricHistoryTests.sample(cpu: 3), at: Date(timeIntervalSince1970: .infinity))
        #expect(!kept && pending.samples.count == 1, "an impossible time: not kept")
        for minute in 1...100 { pending.add(AgentMetricHistoryTests.sample(cpu: Double(minute % 100)), at: Fixture.at(Double(minute * 60))) }
        #expect(pending.samples.count == PendingMetricSamples.limit)
        #expect(pending.samples.last?.at == Fixture.at(6000), "the newest kept, the oldest dropped")
        let taken = pending.takeAll()
        #expect(pending.isEmpty)
        pending.add(AgentMetricHistoryTests.sample(cpu: 50), at: Fixture.at(6060))
        pending.putBack(taken)
        #expect(pending.samples.count == PendingMetricSamples.limit && pending.samples.last?.metrics.cpuPercent == 50, "a failed write's samples go back ahead of newer ones")
    }

    @Test func samplesKeptThroughADayOfFailedWritesDoNotWipeTheStoredHistory() {
        var stored = AgentMetricHistory()
        stored.record(AgentMetricHistoryTests.sample(cpu: 30), now: Fixture.at(2 * 86_400))
        var pending = PendingMetricSamples()
        pending.add(AgentMetricHistoryTests.sample(cpu: 10), at: Fixture.at(0))
        pending.add(AgentMetricHistoryTests.sample(cpu: 20), at: Fixture.at(2 * 86_400 - 120))
        stored.record(pending.takeAll(), now: Fixture.at(2 * 86_400 + 60))
        #expect(stored.points(.day, now: Fixture.at(2 * 86_400 + 60)).compactMap(\.cpu) == [20, 30], "the two-day-old sample is dropped, not taken for the clock going back")
    }

    @Test func serialSectionsRunOneAtATimeInArrivalOrder() async throws {
        let sections = SerialSections()
        let log = SectionLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await sections.run {
                        await log.append("start")
                        await Task.yield()
                        await log.append("end \(index)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let entries = await log.entries
        #expect(entries.count == 40)
        for pair in stride(from: 0, to: entries.count, by: 2) {
            #expect(entries[pair] == "start" && entries[pair + 1].hasPrefix("end"), "no section started before the one before it ended")
        }
    }
}

/// What the serial sections did, in order.
private actor SectionLog {
    private(set) var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}
