import Foundation
import Testing

@testable import RMMServer

/// The fleet live stream's decisions: events at once, metrics coalesced, gone agents.
@Suite("Fleet change machine")
struct FleetChangeMachineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func row(_ id: String, status: String = "online", cpu: String = "5%", mode: String = "text") -> FleetRow {
        FleetRow(id: id, name: id, status: status, verdict: "healthy", mode: mode, rtt: "3 ms", lastSeen: "1 s ago", os: "linux",
                 version: "1", cpu: cpu, memory: "10%", disk: "20%")
    }

    @Test("the first read is the baseline; a status or mode change is sent at the next read")
    func eventsAtOnce() {
        var machine = FleetChangeMachine(metricsInterval: 10)
        #expect(machine.observe([row("a"), row("b")], now: t0).isEmpty)
        #expect(machine.observe([row("a", status: "offline"), row("b", mode: "poll")], now: t0.addingTimeInterval(1))
                == [.changed(row("a", status: "offline")), .changed(row("b", mode: "poll"))])
        #expect(machine.observe([row("a", status: "offline"), row("b", mode: "poll")], now: t0.addingTimeInterval(2)).isEmpty)
    }

    @Test("metric changes are held until the agent's last event is metricsInterval old, then sent as the newest values")
    func metricsCoalesced() {
        var machine = FleetChangeMachine(metricsInterval: 10)
        _ = machine.observe([row("a")], now: t0)
        #expect(machine.observe([row("a", cpu: "50%")], now: t0.addingTimeInterval(2)).isEmpty)
        #expect(machine.observe([row("a", cpu: "60%")], now: t0.addingTimeInterval(5)).isEmpty)
        #expect(machine.observe([row("a", cpu: "70%")], now: t0.addingTimeInterval(10)) == [.changed(row("a", cpu: "70%"))])
        #expect(machine.observe([row("a", cpu: "80%")], now: t0.addingTimeInterval(12)).isEmpty)
        // A status change goes out at once even inside the interval, with the metrics it has.
        #expect(machine.observe([row("a", status: "degraded", cpu: "80%")], now: t0.addingTimeInterval(13))
                == [.changed(row("a", status: "degraded", cpu: "80%"))])
    }

    @Test("an agent that leaves the page is gone; one that enters it is added after the row it follows, gone events first")
    func goneAndAdded() {
        var machine = FleetChangeMachine()
        _ = machine.observe([row("a"), row("b")], now: t0)
        #expect(machine.observe([row("b"), row("c")], now: t0.addingTimeInterval(1)) == [.gone("a"), .added(row("c"), after: "b")])
        // One that sorts first goes to the top, and the page's last row is pushed off.
        #expect(machine.observe([row("0"), row("b")], now: t0.addingTimeInterval(2)) == [.gone("c"), .added(row("0"), after: nil)])
        #expect(machine.observe([row("0"), row("b")], now: t0.addingTimeInterval(3)).isEmpty)
    }

    @Test("a renamed agent is taken off and put back where its new name sorts")
    func renamed() {
        var machine = FleetChangeMachine()
        _ = machine.observe([row("a"), row("b")], now: t0)
        var renamed = row("a")
        renamed.name = "zed"
        #expect(machine.observe([row("b"), renamed], now: t0.addingTimeInterval(1)) == [.gone("a"), .added(renamed, after: "b")])
    }

    @Test("with the ids the browser shows, the first read sends every shown row, what came and what went since the render")
    func catchUp() {
        var machine = FleetChangeMachine(shown: ["a", "gone", "b", "gone"])
        #expect(machine.observe([row("a"), row("new"), row("b", status: "offline")], now: t0)
                == [.gone("gone"), .changed(row("a")), .added(row("new"), after: "a"), .changed(row("b", status: "offline"))])
        #expect(machine.observe([row("a"), row("new"), row("b", status: "offline")], now: t0.addingTimeInterval(1)).isEmpty)
    }

    @Test("a session holds at most perSession streams; a released slot can be taken again")
    func streamSlots() {
        let slots = ConsoleStreamSlots(perSession: 2)
        #expect(slots.take("s") && slots.take("s") && !slots.take("s"))
        #expect(slots.take("other"))
        slots.release("s")
        #expect(slots.take("s") && !slots.take("s"))
    }
}
