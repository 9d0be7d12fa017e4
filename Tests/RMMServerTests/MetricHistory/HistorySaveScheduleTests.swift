import Foundation
import Testing
@testable import RMMServer

@Suite struct HistorySaveScheduleTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// What `take` answers at each of `times` in turn (`#expect` cannot call a mutating method).
    static func takes(_ schedule: inout HistorySaveSchedule, at times: [Date]) -> [Bool] {
        times.map { schedule.take(now: $0) }
    }

    @Test func savesOnlyWhatChangedAtMostOncePerInterval() throws {
        var schedule = HistorySaveSchedule(agentId: "ag_1")
        #expect(Self.takes(&schedule, at: [Self.t0]) == [false], "nothing recorded")
        schedule.recorded(now: Self.t0)
        let due = try #require(schedule.due)
        #expect(due >= Self.t0 && due < Self.t0.addingTimeInterval(HistorySaveSchedule.interval))
        // Not before it is due, then once; nothing new: not again.
        #expect(Self.takes(&schedule, at: [due.addingTimeInterval(-1), due, due.addingTimeInterval(1)]) == [false, true, false])
        schedule.recorded(now: due.addingTimeInterval(1))
        let next = due.addingTimeInterval(HistorySaveSchedule.interval)
        #expect(Self.takes(&schedule, at: [next.addingTimeInterval(-1), next]) == [false, true])
    }

    @Test func theFinalSaveWritesOnlyWhenSomethingChanged() {
        var schedule = HistorySaveSchedule(agentId: "ag_1")
        var finals = [schedule.takeFinal(now: Self.t0)]
        schedule.recorded(now: Self.t0)
        finals += [schedule.takeFinal(now: Self.t0), schedule.takeFinal(now: Self.t0)]
        #expect(finals == [false, true, false])
    }

    @Test func agentsFirstSavesSpreadOverTheInterval() {
        let offsets = Set((0..<200).compactMap { index -> Int? in
            var schedule = HistorySaveSchedule(agentId: "ag_\(index)")
            schedule.recorded(now: Self.t0)
            return schedule.due.map { Int($0.timeIntervalSince(Self.t0)) }
        })
        #expect(offsets.count > 100)
        #expect(offsets.allSatisfy { $0 >= 0 && $0 < Int(HistorySaveSchedule.interval) })
    }

    @Test func aClockThatWentBackSavesNowRatherThanWhenItCatchesUp() {
        var schedule = HistorySaveSchedule(agentId: "ag_1")
        schedule.recorded(now: Self.t0)
        _ = schedule.takeFinal(now: Self.t0)
        schedule.recorded(now: Self.t0.addingTimeInterval(1))
        // Due an interval after t0; the clock goes back a day.
        let back = Self.t0.addingTimeInterval(-86_400)
        #expect(Self.takes(&schedule, at: [back, back.addingTimeInterval(1)]) == [true, false])
    }
}
